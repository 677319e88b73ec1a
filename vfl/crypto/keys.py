"""Paillier key pairs: phe key objects with a fingerprint and a byte form for the public half.

Two key schemes, both ordinary Paillier (g = n + 1; phe decrypts either's ciphertexts):

- ``"subgroup"`` (the default): the key holder also publishes h_s = h^n mod n², where h has
  secret prime order ω_p modulo p and ω_q modulo q (224 bits each at 2048-bit keys, 256 at
  3072), p - 1 = 2·ω_p·u_p and q - 1 = 2·ω_q·u_q. Every encryption and re-randomization
  under the key uses h_s^r as its randomizer, so the key holder decrypts with exponents ω_p
  and ω_q instead of p - 1 and q - 1 (about 4× cheaper), and its own encryptions need
  only 2 × 28 table multiplications. The other party draws r with `randomizer_bits` =
  |ω_p·ω_q| + 128 bits, statistically close to uniform on ⟨h_s⟩.
- ``"djn"``: no published base; every process draws its own h = -x² and r has ⌈k/2⌉ bits
  (Damgård–Jurik–Nielsen), and decryption uses p - 1 and q - 1. Keys saved before the
  subgroup scheme existed load as this scheme.

`docs/THREAT_MODEL.md` ("Keys and parameters") states the assumption each scheme rests on.

The private key is the party's own secret. It is never logged (its `repr` shows only the
fingerprint), never sent anywhere, and written to disk only by an explicit `save(path)`.
The engine's worker processes (children of the key holder's process) receive the prime
factors through their inherited pipe; nothing else does.

Key size: 2048 bits is the default (about 112-bit security, NIST SP 800-57), 3072 bits
(128-bit security) is supported for long-lived deployments; 1024-bit keys exist only so the
test suite runs fast and are refused by nothing but logged loudly. See
`docs/THREAT_MODEL.md`, "Keys and parameters".
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import secrets
from pathlib import Path
from typing import Final

import gmpy2
from phe import paillier

from vfl.errors import CryptoError, KeyMismatchError

__all__ = [
    "DEFAULT_KEY_BITS",
    "DEFAULT_KEY_SCHEME",
    "KEY_SCHEMES",
    "SUPPORTED_KEY_BITS",
    "PrivateKey",
    "PublicKey",
    "generate_keypair",
]

logger = logging.getLogger(__name__)

DEFAULT_KEY_BITS: Final = 2048
SUPPORTED_KEY_BITS: Final = (2048, 3072)
_TEST_ONLY_BITS: Final = (1024,)
KEY_SCHEMES: Final = ("subgroup", "djn")
DEFAULT_KEY_SCHEME: Final = "subgroup"
_PUB_MAGIC: Final = b"VFLPK1"
_PUB_MAGIC_SUBGROUP: Final = b"VFLPK2"
_PRIV_MAGIC: Final = b"VFLSK1"
_PRIV_MAGIC_SUBGROUP: Final = b"VFLSK2"
# Bits of each secret subgroup prime ω_p, ω_q: twice the security level, so that finding
# either by a collision search in ⟨h⟩ (about 2^(bits/2) steps, which would factor n) costs
# as much as factoring n itself (112 bits at 2048, 128 at 3072; 80 for the test-only size).
_SUBGROUP_BITS: Final = {1024: 160, 2048: 224, 3072: 256}
# Statistical distance of the other party's h_s^r from uniform on ⟨h_s⟩: 2^-128.
_STATISTICAL_BITS: Final = 128


def _fingerprint(n: int) -> str:
    width = (n.bit_length() + 7) // 8
    return hashlib.sha256(n.to_bytes(width, "big")).hexdigest()


class PublicKey:
    """A Paillier public key (g = n + 1), wrapping a phe `PaillierPublicKey`.

    Attributes:
        n: the modulus.
        nsquare: n², the ciphertext modulus.
        bits: the nominal key size (bit length of n).
        fingerprint: hex SHA-256 of n as fixed-width big-endian bytes; travels with every
            ciphertext tensor so a ciphertext under another key is refused.
        hs: the published randomizer base h_s (subgroup scheme), or None (djn scheme).
        randomizer_bits: bits of the exponent r in h_s^r drawn by a party without the
            private key (subgroup scheme: |ω_p·ω_q| + 128; djn: ⌈k/2⌉).
        phe: the underlying phe key (the only place phe key objects are exposed).
    """

    def __init__(
        self,
        phe_key: paillier.PaillierPublicKey,
        hs: int | None = None,
        randomizer_bits: int | None = None,
    ) -> None:
        self.phe = phe_key
        self.n: int = int(phe_key.n)
        self.nsquare: int = self.n * self.n
        self.bits: int = self.n.bit_length()
        self.fingerprint: str = _fingerprint(self.n)
        self.hs: int | None = hs
        self.randomizer_bits: int = randomizer_bits or (self.bits + 1) // 2
        if hs is not None:
            _check_base(self.n, hs, self.randomizer_bits)

    @property
    def scheme(self) -> str:
        """The key scheme: "subgroup" when the key publishes h_s, else "djn"."""
        return "djn" if self.hs is None else "subgroup"

    @property
    def decryption_exponent_bits(self) -> int:
        """About the bits of each CRT decryption exponent: |ω_p| (subgroup) or |p| (djn)."""
        if self.hs is None:
            return self.bits // 2
        return (self.randomizer_bits - _STATISTICAL_BITS) // 2

    @property
    def ciphertext_bytes(self) -> int:
        """Width in bytes of one ciphertext on the wire (bytes of n²)."""
        return (self.nsquare.bit_length() + 7) // 8

    def to_bytes(self) -> bytes:
        """Serialize to bytes.

        Magic, 2-byte big-endian length of n in bytes, n big-endian; then, for the subgroup
        scheme, h_s (twice that width) and the 2-byte randomizer bit count.
        """
        width = (self.n.bit_length() + 7) // 8
        body = width.to_bytes(2, "big") + self.n.to_bytes(width, "big")
        if self.hs is None:
            return _PUB_MAGIC + body
        tail = self.hs.to_bytes(2 * width, "big") + self.randomizer_bits.to_bytes(2, "big")
        return _PUB_MAGIC_SUBGROUP + body + tail

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """Parse `to_bytes` output; a malformed or implausible key is a `CryptoError`."""
        magic = data[: len(_PUB_MAGIC)]
        head = len(_PUB_MAGIC) + 2
        if len(data) < head or magic not in (_PUB_MAGIC, _PUB_MAGIC_SUBGROUP):
            raise CryptoError("public key bytes are malformed (bad header)")
        width = int.from_bytes(data[len(_PUB_MAGIC) : head], "big")
        tail = 2 * width + 2 if magic == _PUB_MAGIC_SUBGROUP else 0
        if len(data) != head + width + tail:
            raise CryptoError("public key bytes are malformed (wrong length)")
        n = int.from_bytes(data[head : head + width], "big")
        if n % 2 == 0 or n.bit_length() not in SUPPORTED_KEY_BITS + _TEST_ONLY_BITS:
            raise CryptoError("public key modulus is not a supported Paillier modulus")
        if not tail:
            return cls(paillier.PaillierPublicKey(n))
        rest = data[head + width :]
        hs = int.from_bytes(rest[: 2 * width], "big")
        r_bits = int.from_bytes(rest[2 * width :], "big")
        return cls(paillier.PaillierPublicKey(n), hs, r_bits)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.n == self.n and other.hs == self.hs

    def __hash__(self) -> int:
        return hash(self.n)

    def __repr__(self) -> str:
        return (
            f"PublicKey(bits={self.bits}, scheme={self.scheme}, "
            f"fingerprint={self.fingerprint[:16]}...)"
        )


def _check_base(n: int, hs: int, randomizer_bits: int) -> None:
    """Check a published base for plausibility.

    It must be in range, a unit, not of order 1 or 2, and come with a randomizer length
    between the smallest subgroup size and twice the modulus.
    The order of h_s cannot be checked without the factors; a key holder that publishes a
    base of small order only weakens the hiding of the products it is sent to decrypt (see
    THREAT_MODEL: the semi-honest model assumes it follows key generation).
    """
    nsquare = n * n
    smallest = 2 * min(_SUBGROUP_BITS.values()) - 1 + _STATISTICAL_BITS
    if not 1 < hs < nsquare or math.gcd(hs, n) != 1 or hs * hs % nsquare == 1:
        raise CryptoError("public key randomizer base is not a unit of order above 2")
    if not smallest <= randomizer_bits <= 2 * n.bit_length():
        raise CryptoError("public key randomizer length is implausible")


class PrivateKey:
    """A Paillier private key, wrapping a phe `PaillierPrivateKey`.

    Its `repr` never shows p, q or λ. `save` writes it only to a path the caller names,
    with owner-only permissions.
    """

    def __init__(
        self,
        public_key: PublicKey,
        phe_key: paillier.PaillierPrivateKey,
        orders: tuple[int, int] | None = None,
    ) -> None:
        if int(phe_key.public_key.n) != public_key.n:
            raise KeyMismatchError("private key does not belong to this public key")
        if (orders is None) != (public_key.hs is None):
            raise KeyMismatchError("subgroup orders and the published base go together")
        self.public_key = public_key
        self.phe = phe_key
        self.p: int = int(phe_key.p)
        self.q: int = int(phe_key.q)
        self.orders: tuple[int, int] | None = orders
        """(ω_p, ω_q): the orders of h_s modulo p² and q² (subgroup scheme), else None."""

    def __repr__(self) -> str:
        pub = self.public_key
        return f"PrivateKey(bits={pub.bits}, fingerprint={pub.fingerprint[:16]}...)"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key to `path` (mode 0600). Only ever called explicitly.

        p and q; for the subgroup scheme also ω_p, ω_q, h_s and the randomizer length.
        """
        width = (self.p.bit_length() + 7) // 8
        blob = width.to_bytes(2, "big") + self.p.to_bytes(width, "big")
        blob += self.q.to_bytes(width, "big")
        pub = self.public_key
        if self.orders is None or pub.hs is None:
            blob = _PRIV_MAGIC + blob
        else:
            blob = _PRIV_MAGIC_SUBGROUP + blob
            blob += b"".join(w.to_bytes(width, "big") for w in self.orders)
            blob += pub.hs.to_bytes(4 * width, "big") + pub.randomizer_bits.to_bytes(2, "big")
        fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        logger.info("private key %s... saved", self.public_key.fingerprint[:16])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PrivateKey:
        """Read a key written by `save`; a damaged file is a `CryptoError`."""
        data = Path(path).read_bytes()
        magic = data[: len(_PRIV_MAGIC)]
        head = len(_PRIV_MAGIC) + 2
        if len(data) < head or magic not in (_PRIV_MAGIC, _PRIV_MAGIC_SUBGROUP):
            raise CryptoError(f"{path} is not a vfl private key file")
        width = int.from_bytes(data[len(_PRIV_MAGIC) : head], "big")
        fields = [data[head + i * width : head + (i + 1) * width] for i in range(4)]
        expected = head + 2 * width + (6 * width + 2 if magic == _PRIV_MAGIC_SUBGROUP else 0)
        if len(data) != expected:
            raise CryptoError(f"{path} is truncated or damaged")
        p, q = (int.from_bytes(f, "big") for f in fields[:2])
        if magic == _PRIV_MAGIC:
            public = PublicKey(paillier.PaillierPublicKey(p * q))
            return cls(public, paillier.PaillierPrivateKey(public.phe, p, q))
        orders = (int.from_bytes(fields[2], "big"), int.from_bytes(fields[3], "big"))
        rest = data[head + 4 * width :]
        hs, r_bits = int.from_bytes(rest[: 4 * width], "big"), int.from_bytes(rest[-2:], "big")
        try:
            public = PublicKey(paillier.PaillierPublicKey(p * q), hs, r_bits)
            key = cls(public, paillier.PaillierPrivateKey(public.phe, p, q), orders)
        except CryptoError as exc:
            raise CryptoError(f"{path} is damaged: {exc}") from exc
        if not _orders_fit(key):
            raise CryptoError(f"{path} is damaged: its subgroup orders do not fit its primes")
        return key


def _orders_fit(key: PrivateKey) -> bool:
    """ω_p | p - 1, ω_q | q - 1, and h_s has exactly these orders modulo p² and q²."""
    hs = key.public_key.hs
    if key.orders is None or hs is None:
        return key.orders is None and hs is None
    for prime, order in zip((key.p, key.q), key.orders, strict=True):
        square = prime * prime
        if order < 3 or (prime - 1) % order or not gmpy2.is_prime(order, 25):
            return False
        if gmpy2.powmod(hs, order, square) != 1 or hs % square == 1:
            return False
    return True


def _prime(bits: int) -> int:
    """A random `bits`-bit prime p ≡ 3 (mod 4) with its two top bits set (CSPRNG search)."""
    candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 3
    while not gmpy2.is_prime(candidate, 40):
        candidate += 4
        if candidate.bit_length() > bits:
            candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 3
    return candidate


def _subgroup_prime(bits: int, order_bits: int) -> tuple[int, int]:
    """A random `bits`-bit prime p = 2·ω·u + 1 and ω; returns (p, ω).

    ω is a random `order_bits`-bit prime and u odd (so p ≡ 3 mod 4); p's two top bits are
    set.
    """
    while True:
        order = gmpy2.next_prime(secrets.randbits(order_bits) | (1 << (order_bits - 1)))
        if order.bit_length() == order_bits:
            break
    low = -(-(3 << (bits - 2)) // (2 * order))
    high = ((1 << bits) - 2) // (2 * order)
    while True:
        u = low + secrets.randbelow(high - low + 1)
        u |= 1
        candidate = 2 * order * u + 1
        if candidate.bit_length() == bits and gmpy2.is_prime(candidate, 40):
            return int(candidate), int(order)


def _element_of_order(prime: int, order: int) -> int:
    """A random element of exact prime order `order` in Z_prime*."""
    cofactor = (prime - 1) // order
    while True:
        y = secrets.randbelow(prime - 3) + 2
        a = int(gmpy2.powmod(y, cofactor, prime))
        if a != 1:
            return a


def _subgroup_keypair(bits: int) -> tuple[PublicKey, PrivateKey]:
    order_bits = _SUBGROUP_BITS[bits]
    while True:
        p, wp = _subgroup_prime(bits // 2, order_bits)
        q, wq = _subgroup_prime(bits // 2, order_bits)
        if p != q and math.gcd(p - 1, q - 1) == 2 and (p * q).bit_length() == bits:
            break
    n = p * q
    ap, aq = _element_of_order(p, wp), _element_of_order(q, wq)
    h = ap + p * ((aq - ap) * int(gmpy2.invert(p, q)) % q)  # CRT: h ≡ ap (p), ≡ aq (q)
    hs = int(gmpy2.powmod(h, n, n * n))
    r_bits = (wp * wq).bit_length() + _STATISTICAL_BITS
    phe_pub = paillier.PaillierPublicKey(n)
    public = PublicKey(phe_pub, hs, r_bits)
    phe_priv = paillier.PaillierPrivateKey(phe_pub, p, q)  # phe stores the smaller prime as p
    orders = (wp, wq) if int(phe_priv.p) == p else (wq, wp)
    return public, PrivateKey(public, phe_priv, orders)


def generate_keypair(
    bits: int = DEFAULT_KEY_BITS, scheme: str = DEFAULT_KEY_SCHEME
) -> tuple[PublicKey, PrivateKey]:
    """Generate a Paillier key pair of `bits` bits (2048 default, 3072 supported).

    Both schemes give admissible moduli (as DJN assume and HEU generates): n = pq with
    p ≡ q ≡ 3 (mod 4) and gcd(p - 1, q - 1) = 2. The subgroup scheme further builds
    p = 2·ω_p·u_p + 1 and q = 2·ω_q·u_q + 1 with random primes ω_p, ω_q of 224 bits (2048)
    or 256 bits (3072) and publishes h_s = h^n mod n² for an h of order ω_p modulo p and
    ω_q modulo q (see the module docstring).

    Args:
        bits: modulus size. 1024 is accepted for tests only and logged as insecure.
        scheme: "subgroup" (default) or "djn".

    Raises:
        CryptoError: for any other size or scheme.
    """
    if bits not in SUPPORTED_KEY_BITS + _TEST_ONLY_BITS:
        raise CryptoError(f"unsupported Paillier key size {bits}; use one of {SUPPORTED_KEY_BITS}")
    if scheme not in KEY_SCHEMES:
        raise CryptoError(f"unknown Paillier key scheme {scheme!r}; use one of {KEY_SCHEMES}")
    if bits in _TEST_ONLY_BITS:
        logger.warning("generating an insecure %d-bit Paillier key (tests only)", bits)
    if scheme == "subgroup":
        public, private = _subgroup_keypair(bits)
    else:
        while True:
            p, q = _prime(bits // 2), _prime(bits // 2)
            if p != q and math.gcd(p - 1, q - 1) == 2 and (p * q).bit_length() == bits:
                break
        phe_pub = paillier.PaillierPublicKey(p * q)
        public = PublicKey(phe_pub)
        private = PrivateKey(public, paillier.PaillierPrivateKey(phe_pub, p, q))
    logger.info("generated %d-bit %s Paillier key %s...", bits, scheme, public.fingerprint[:16])
    return public, private
