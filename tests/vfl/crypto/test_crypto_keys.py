import math
import os
import stat
from collections.abc import Callable
from pathlib import Path

import gmpy2
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


def _n_end(data: bytes) -> int:
    """Offset just past n in public key bytes (magic 6, width 2, n)."""
    return 8 + int.from_bytes(data[6:8], "big")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],
        lambda b: b"XXXXXX" + b[6:],
        lambda b: b[: _n_end(b) - 1] + bytes([b[_n_end(b) - 1] ^ 1]) + b[_n_end(b) :],  # even n
        lambda b: b[:6] + (64).to_bytes(2, "big") + b[8:72],  # 512-bit modulus
    ],
)
@pytest.mark.parametrize("scheme", ["subgroup", "djn"])
def test_malformed_public_key_bytes(
    keypair: tuple[PublicKey, PrivateKey],
    djn_keypair: tuple[PublicKey, PrivateKey],
    mutate: Callable[[bytes], bytes],
    scheme: str,
) -> None:
    pk = keypair[0] if scheme == "subgroup" else djn_keypair[0]
    with pytest.raises(CryptoError):
        PublicKey.from_bytes(mutate(pk.to_bytes()))


def _with_base(pk: PublicKey, hs: int, r_bits: int) -> bytes:
    data = pk.to_bytes()
    width = (pk.n.bit_length() + 7) // 8
    head = _n_end(data)
    return data[:head] + hs.to_bytes(2 * width, "big") + r_bits.to_bytes(2, "big")


def test_implausible_published_bases_are_refused(keypair: tuple[PublicKey, PrivateKey]) -> None:
    pk, _ = keypair
    assert pk.hs is not None
    assert PublicKey.from_bytes(_with_base(pk, pk.hs, pk.randomizer_bits)) == pk
    for hs, r_bits in [
        (1, pk.randomizer_bits),  # order 1
        (pk.nsquare - 1, pk.randomizer_bits),  # order 2
        (0, pk.randomizer_bits),
        (pk.n * 3, pk.randomizer_bits),  # not a unit
        (pk.hs, 64),  # far too short to hide anything
        (pk.hs, 5000),
    ]:
        with pytest.raises(CryptoError, match="randomizer"):
            PublicKey.from_bytes(_with_base(pk, hs, r_bits))


def test_subgroup_key_structure(keypair_2048: tuple[PublicKey, PrivateKey]) -> None:
    """p - 1 = 2·ω_p·u_p with a 224-bit prime ω_p (same for q), and the published h_s has
    order exactly ω_p modulo p² and ω_q modulo q²; phe's own decryption still works."""
    pk, sk = keypair_2048
    assert pk.scheme == "subgroup" and pk.hs is not None and sk.orders is not None
    for prime, order in zip((sk.p, sk.q), sk.orders, strict=True):
        assert order.bit_length() == 224 and gmpy2.is_prime(order)
        assert (prime - 1) % (2 * order) == 0 and prime % 4 == 3
        assert pow(pk.hs, order, prime**2) == 1 and pk.hs % prime**2 != 1
    assert pk.randomizer_bits == (sk.orders[0] * sk.orders[1]).bit_length() + 128
    assert pk.decryption_exponent_bits in (223, 224)
    assert math.gcd(sk.p - 1, sk.q - 1) == 2
    assert sk.phe.decrypt(pk.phe.encrypt(12345)) == 12345


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(CryptoError, match="scheme"):
        generate_keypair(1024, "rsa")


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
    assert back.orders == sk.orders and back.public_key.hs == sk.public_key.hs
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CryptoError, match="truncated"):
        PrivateKey.load(path)


def test_djn_key_save_load(djn_keypair: tuple[PublicKey, PrivateKey], tmp_path: Path) -> None:
    """A djn key (the only format before the subgroup scheme) saves and loads as before."""
    _, sk = djn_keypair
    path = tmp_path / "key.bin"
    sk.save(path)
    assert path.read_bytes().startswith(b"VFLSK1")
    back = PrivateKey.load(path)
    assert back.public_key == sk.public_key and back.orders is None
    assert back.public_key.scheme == "djn" and back.public_key.hs is None


def test_a_key_file_with_orders_that_do_not_fit_is_refused(
    keypair: tuple[PublicKey, PrivateKey], tmp_path: Path
) -> None:
    _, sk = keypair
    assert sk.orders is not None
    path = tmp_path / "key.bin"
    PrivateKey(sk.public_key, sk.phe, (sk.orders[1], sk.orders[0])).save(path)
    with pytest.raises(CryptoError, match="orders"):
        PrivateKey.load(path)


def test_private_key_must_match_public(
    keypair: tuple[PublicKey, PrivateKey], other_keypair: tuple[PublicKey, PrivateKey]
) -> None:
    with pytest.raises(KeyMismatchError):
        PrivateKey(other_keypair[0], keypair[1].phe)


@pytest.mark.parametrize("scheme", ["subgroup", "djn"])
def test_modulus_is_admissible(
    keypair: tuple[PublicKey, PrivateKey], djn_keypair: tuple[PublicKey, PrivateKey], scheme: str
) -> None:
    """p ≡ q ≡ 3 (mod 4) and gcd(p-1, q-1) = 2, as the DJN analysis assumes."""
    _, sk = keypair if scheme == "subgroup" else djn_keypair
    assert sk.public_key.scheme == scheme
    assert sk.p % 4 == 3 and sk.q % 4 == 3
    assert math.gcd(sk.p - 1, sk.q - 1) == 2
    assert sk.p.bit_length() == sk.q.bit_length() == 512
