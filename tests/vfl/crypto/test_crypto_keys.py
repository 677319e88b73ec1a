import math
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from vfl.crypto import PrivateKey, PublicKey, generate_keypair
from vfl.errors import CryptoError, KeyMismatchError


def test_keypair_sizes_and_fingerprint(keypair: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keypair
    assert pk.bits == 1024 and pk.n.bit_length() == 1024
    assert pk.nsquare == pk.n**2
    assert sk.p * sk.q == pk.n
    assert len(pk.fingerprint) == 64 and int(pk.fingerprint, 16) >= 0
    assert pk.ciphertext_bytes == 256


def test_real_2048_bit_key(keypair_2048: tuple[PublicKey, PrivateKey]) -> None:
    pk, _ = keypair_2048
    assert pk.n.bit_length() == 2048 and pk.ciphertext_bytes == 512


def test_unsupported_sizes_are_refused() -> None:
    for bits in (512, 2000, 4096):
        with pytest.raises(CryptoError, match="unsupported"):
            generate_keypair(bits)


def test_public_key_round_trip(
    keypair: tuple[PublicKey, PrivateKey], other_keypair: tuple[PublicKey, PrivateKey]
) -> None:
    pk, _ = keypair
    back = PublicKey.from_bytes(pk.to_bytes())
    assert back == pk and back.fingerprint == pk.fingerprint
    assert back != other_keypair[0]
    assert back.fingerprint != other_keypair[0].fingerprint


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],
        lambda b: b"XXXXXX" + b[6:],
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # n becomes even
        lambda b: b[:6] + (64).to_bytes(2, "big") + b[8:72],  # 512-bit modulus
    ],
)
def test_malformed_public_key_bytes(
    keypair: tuple[PublicKey, PrivateKey], mutate: Callable[[bytes], bytes]
) -> None:
    with pytest.raises(CryptoError):
        PublicKey.from_bytes(mutate(keypair[0].to_bytes()))


def test_private_repr_hides_secrets(keypair: tuple[PublicKey, PrivateKey]) -> None:
    _, sk = keypair
    text = repr(sk) + str(sk)
    for secret in (sk.p, sk.q):
        assert str(secret) not in text and format(secret, "x") not in text
    assert sk.public_key.fingerprint[:16] in text


def test_private_key_save_load(keypair: tuple[PublicKey, PrivateKey], tmp_path: Path) -> None:
    _, sk = keypair
    path = tmp_path / "key.bin"
    sk.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = PrivateKey.load(path)
    assert (back.p, back.q) == (sk.p, sk.q) and back.public_key == sk.public_key
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CryptoError, match="truncated"):
        PrivateKey.load(path)


def test_private_key_must_match_public(
    keypair: tuple[PublicKey, PrivateKey], other_keypair: tuple[PublicKey, PrivateKey]
) -> None:
    with pytest.raises(KeyMismatchError):
        PrivateKey(other_keypair[0], keypair[1].phe)


def test_modulus_is_admissible(keypair: tuple[PublicKey, PrivateKey]) -> None:
    """p ≡ q ≡ 3 (mod 4) and gcd(p-1, q-1) = 2, as the DJN randomness assumes."""
    _, sk = keypair
    assert sk.p % 4 == 3 and sk.q % 4 == 3
    assert math.gcd(sk.p - 1, sk.q - 1) == 2
    assert sk.p.bit_length() == sk.q.bit_length() == 512
