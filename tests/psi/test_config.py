"""Parsing the [party], [network] and [align] sections; vfl.config.load_config."""

from __future__ import annotations

from pathlib import Path

import pytest

from psi.errors import ConfigError
from vfl.config import load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "party.toml"
    path.write_text(text)
    return path


GOOD = """
[party]
name = "imaging"
role = "feature"
run_id = "study-1"
workdir = "runs/imaging"

[network]
peer = "127.0.0.1:50051"
ca_cert = "certs/ca.pem"
cert = "certs/imaging.pem"
key = "certs/imaging.key"

[align]
ids_file = "data/ids.csv"
id_column = "patient_id"

[train]
epochs = 3
"""


def test_good_config_parses_with_safe_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.party.workdir == tmp_path.resolve() / "runs/imaging"
    assert cfg.network.cert == tmp_path.resolve() / "certs/imaging.pem"
    assert cfg.network.insecure is False and cfg.network.timeout_s == 30
    assert cfg.align.visibility == "both" and cfg.align.min_intersection == 100
    assert cfg.align.on_invalid == "error" and cfg.align.case_fold is False
    assert cfg.extra == {"train": {"epochs": 3}}  # stage 2 sections are left alone


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    bad = (
        GOOD.replace('role = "feature"', 'role = "boss"')
        .replace('peer = "127.0.0.1:50051"', 'peer = "nowhere"')
        .replace(
            'id_column = "patient_id"',
            'id_column = "patient_id"\nvisibility = "all"\nmin_intersection = 0\ncolour = "red"',
        )
        .replace('key = "certs/imaging.key"', "")
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, bad))
    problems = err.value.problems
    text = "\n".join(problems)
    assert "[party] role must be one of" in text
    assert "[network] peer must look like host:port" in text
    assert "[align] visibility must be one of" in text
    assert "[align] min_intersection must be >= 1" in text
    assert "[align] unknown key 'colour'" in text
    assert "[network] key is required for mutual TLS" in text
    assert len(problems) == 6
    assert isinstance(err.value, ValueError)


def test_insecure_override_lifts_the_tls_requirement(tmp_path: Path) -> None:
    text = GOOD.replace('ca_cert = "certs/ca.pem"\n', "").replace(
        'cert = "certs/imaging.pem"\n', ""
    )
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, text))
    cfg = load_config(write(tmp_path, text), overrides={"network": {"insecure": True}})
    assert cfg.network.insecure


def test_label_party_needs_listen_and_feature_parties(tmp_path: Path) -> None:
    text = GOOD.replace('role = "feature"', 'role = "label"')
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    text = "\n".join(err.value.problems)
    assert "listen" in text and "feature_parties" in text


def test_wrong_types_and_missing_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(
            write(tmp_path, '[party]\nname = 3\nrole = "label"\nrun_id = "r"\nworkdir = "w"\n')
        )
    text = "\n".join(err.value.problems)
    assert "[party] name must be str, got int" in text
    assert "[align] is missing" in text and "[network] is missing" in text


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[party\nname="))


def test_peer_name_must_be_a_dns_name_under_tls(tmp_path: Path) -> None:
    """The label party's name is pinned as a certificate DNS name, so it must be one."""
    text = GOOD.replace(
        'peer = "127.0.0.1:50051"', 'peer = "127.0.0.1:50051"\npeer_name = "my_lab"'
    )
    with pytest.raises(ConfigError, match=r"\[network\] peer_name must be a DNS name"):
        load_config(write(tmp_path, text))
    insecure = load_config(write(tmp_path, text), overrides={"network": {"insecure": True}})
    assert insecure.network.peer_name == "my_lab"
    assert load_config(write(tmp_path, GOOD)).network.peer_name == "label"
