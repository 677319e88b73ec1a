"""Paillier key pairs: phe key objects with a fingerprint and a byte form for the public half.

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
    "SUPPORTED_KEY_BITS",
    "PrivateKey",
    "PublicKey",
    "generate_keypair",
]

logger = logging.getLogger(__name__)

DEFAULT_KEY_BITS: Final = 2048
SUPPORTED_KEY_BITS: Final = (2048, 3072)
_TEST_ONLY_BITS: Final = (1024,)
_PUB_MAGIC: Final = b"VFLPK1"
_PRIV_MAGIC: Final = b"VFLSK1"


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
        phe: the underlying phe key (the only place phe key objects are exposed).
    """

    def __init__(self, phe_key: paillier.PaillierPublicKey) -> None:
        self.phe = phe_key
        self.n: int = int(phe_key.n)
        self.nsquare: int = self.n * self.n
        self.bits: int = self.n.bit_length()
        self.fingerprint: str = _fingerprint(self.n)

    @property
    def ciphertext_bytes(self) -> int:
        """Width in bytes of one ciphertext on the wire (bytes of n²)."""
        return (self.nsquare.bit_length() + 7) // 8

    def to_bytes(self) -> bytes:
        """Serialize: magic, 2-byte big-endian length of n in bytes, then n big-endian."""
        width = (self.n.bit_length() + 7) // 8
        return _PUB_MAGIC + width.to_bytes(2, "big") + self.n.to_bytes(width, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """Parse `to_bytes` output; a malformed or implausible key is a `CryptoError`."""
        head = len(_PUB_MAGIC) + 2
        if len(data) < head or not data.startswith(_PUB_MAGIC):
            raise CryptoError("public key bytes are malformed (bad header)")
        width = int.from_bytes(data[len(_PUB_MAGIC) : head], "big")
        if len(data) != head + width:
            raise CryptoError("public key bytes are malformed (wrong length)")
        n = int.from_bytes(data[head:], "big")
        if n % 2 == 0 or n.bit_length() not in SUPPORTED_KEY_BITS + _TEST_ONLY_BITS:
            raise CryptoError("public key modulus is not a supported Paillier modulus")
        return cls(paillier.PaillierPublicKey(n))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.n == self.n

    def __hash__(self) -> int:
        return hash(self.n)

    def __repr__(self) -> str:
        return f"PublicKey(bits={self.bits}, fingerprint={self.fingerprint[:16]}...)"


class PrivateKey:
    """A Paillier private key, wrapping a phe `PaillierPrivateKey`.

    Its `repr` never shows p, q or λ. `save` writes it only to a path the caller names,
    with owner-only permissions.
    """

    def __init__(self, public_key: PublicKey, phe_key: paillier.PaillierPrivateKey) -> None:
        if int(phe_key.public_key.n) != public_key.n:
            raise KeyMismatchError("private key does not belong to this public key")
        self.public_key = public_key
        self.phe = phe_key
        self.p: int = int(phe_key.p)
        self.q: int = int(phe_key.q)

    def __repr__(self) -> str:
        pub = self.public_key
        return f"PrivateKey(bits={pub.bits}, fingerprint={pub.fingerprint[:16]}...)"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write p and q to `path` (mode 0600). Only ever called explicitly."""
        width = (self.p.bit_length() + 7) // 8
        blob = (
            _PRIV_MAGIC
            + width.to_bytes(2, "big")
            + self.p.to_bytes(width, "big")
            + self.q.to_bytes(width, "big")
        )
        fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        logger.info("private key %s... saved", self.public_key.fingerprint[:16])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PrivateKey:
        """Read a key written by `save`; a damaged file is a `CryptoError`."""
        data = Path(path).read_bytes()
        head = len(_PRIV_MAGIC) + 2
        if len(data) < head or not data.startswith(_PRIV_MAGIC):
            raise CryptoError(f"{path} is not a vfl private key file")
        width = int.from_bytes(data[len(_PRIV_MAGIC) : head], "big")
        if len(data) != head + 2 * width:
            raise CryptoError(f"{path} is truncated or damaged")
        p = int.from_bytes(data[head : head + width], "big")
        q = int.from_bytes(data[head + width :], "big")
        public = PublicKey(paillier.PaillierPublicKey(p * q))
        return cls(public, paillier.PaillierPrivateKey(public.phe, p, q))


def _prime(bits: int) -> int:
    """A random `bits`-bit prime p ≡ 3 (mod 4) with its two top bits set (CSPRNG search)."""
    candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 3
    while not gmpy2.is_prime(candidate, 40):
        candidate += 4
        if candidate.bit_length() > bits:
            candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 3
    return candidate


def generate_keypair(bits: int = DEFAULT_KEY_BITS) -> tuple[PublicKey, PrivateKey]:
    """Generate a Paillier key pair of `bits` bits (2048 default, 3072 supported).

    The modulus is admissible in the sense DJN's short-exponent randomness assumes (and HEU
    generates): n = pq with p ≡ q ≡ 3 (mod 4) and gcd(p - 1, q - 1) = 2, so -1 is a
    non-square of Jacobi symbol 1 and h = -x² generates, with overwhelming probability, the
    whole cyclic group of Jacobi-symbol-1 elements.

    Args:
        bits: modulus size. 1024 is accepted for tests only and logged as insecure.

    Raises:
        CryptoError: for any other size.
    """
    if bits not in SUPPORTED_KEY_BITS + _TEST_ONLY_BITS:
        raise CryptoError(f"unsupported Paillier key size {bits}; use one of {SUPPORTED_KEY_BITS}")
    if bits in _TEST_ONLY_BITS:
        logger.warning("generating an insecure %d-bit Paillier key (tests only)", bits)
    while True:
        p, q = _prime(bits // 2), _prime(bits // 2)
        if p != q and math.gcd(p - 1, q - 1) == 2 and (p * q).bit_length() == bits:
            break
    phe_pub = paillier.PaillierPublicKey(p * q)
    phe_priv = paillier.PaillierPrivateKey(phe_pub, p, q)
    public = PublicKey(phe_pub)
    logger.info("generated %d-bit Paillier key %s...", bits, public.fingerprint[:16])
    return public, PrivateKey(public, phe_priv)
