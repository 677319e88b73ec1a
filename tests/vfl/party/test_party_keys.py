import logging
import os
import stat

from vfl.party.keys import load_or_create_key


def test_a_new_key_has_the_configured_size_and_scheme(tmp_path):
    for scheme in ("subgroup", "djn"):
        path = tmp_path / scheme / "keys" / "paillier.key"
        key = load_or_create_key(path, 1024, scheme)
        assert key.public_key.bits == 1024 and key.public_key.scheme == scheme
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_existing_key_is_kept_and_a_changed_setting_is_logged(tmp_path, caplog):
    path = tmp_path / "keys" / "paillier.key"
    first = load_or_create_key(path, 1024, "djn")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = load_or_create_key(path, 1024, "djn")
    assert again.public_key == first.public_key and not caplog.records
    with caplog.at_level(logging.WARNING):
        kept = load_or_create_key(path, 1024, "subgroup")
    assert kept.public_key == first.public_key and kept.public_key.scheme == "djn"
    assert "keeping the existing 1024-bit djn Paillier key" in caplog.text
