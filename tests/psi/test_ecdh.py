"""The ECDH operations the protocol is built from, on the real library."""

from __future__ import annotations

import threading

import pytest

from psi.ecdh import Ecdh, inverse_key, new_key, parse_setup, raw_setup
from psi.errors import ProtocolViolationError

IDS = [f"PAT-{i:05d}".encode() for i in range(200)]


def test_encryption_commutes_and_the_inverse_key_strips() -> None:
    a, b = new_key(), new_key()
    xa = Ecdh(a).hash_encrypt(IDS)
    xab = Ecdh(b).raise_points(xa)
    xb = Ecdh(inverse_key(a)).raise_points(xab)
    assert xb == Ecdh(b).hash_encrypt(IDS)
    assert xa != Ecdh(b).hash_encrypt(IDS)


def test_raw_setup_is_sorted_and_round_trips() -> None:
    pts = Ecdh(new_key()).hash_encrypt(IDS)
    assert parse_setup(raw_setup(pts)) == sorted(pts)
    with pytest.raises(ProtocolViolationError):
        parse_setup(b"\xff\xff\xff")


def test_invalid_points_are_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolationError):
        Ecdh(new_key()).raise_points([b"\x02" + b"\x01" * 32, b"junk"])


def test_one_key_is_safe_to_use_from_many_threads() -> None:
    e = Ecdh(new_key())
    expected = e.hash_encrypt(IDS)
    out: list[list[bytes]] = []

    def work() -> None:
        out.append(e.hash_encrypt(IDS))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [expected] * 4
