"""The arithmetic: gmpy2 kernels that run in worker processes (or in-process).

Every function here takes and returns plain bytes and small ints, so the pool pickles
little: ciphertexts and plaintexts travel as one blob of fixed-width big-endian integers.
Each batch kernel returns `(blob, modexp_seconds)`, the time spent inside modular
exponentiation (fixed-base products, multi-exponentiations, CRT powmods), so callers can
report where the time goes.

Randomness. A fresh encryption of zero is h_s^r, assembled from a fixed-base table of h_s
(window 8: ceil(bits(r)/8) modular multiplications instead of a full powmod), r from
`secrets`:

- subgroup keys (`vfl.crypto.keys`): h_s is the key holder's published base, of secret
  order ω = ω_p·ω_q. Without the factors r has `randomizer_bits` = |ω| + 128 bits; the key
  holder draws r_p uniform below ω_p and r_q below ω_q and works modulo p² and q² (two
  tables of 28 rows at 2048 bits). Decryption raises to ω_p and ω_q instead of p - 1, q - 1.
- djn keys (Damgård–Jurik–Nielsen): each process draws its own base h = -x² mod n for a
  random x in Z_n*, sets h_s = h^n mod n², and r has ceil(bits(n)/2) bits.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import gmpy2

from vfl.crypto._multiexp import multi_exp_columns

__all__ = [
    "KeyMaterial",
    "Obfuscator",
    "decrypt_blob",
    "encrypt_blob",
    "install",
    "join_ints",
    "product_blob",
    "rerandomize_blob",
    "shift_blob",
    "split_ints",
    "state_key",
]

_TABLE_WINDOW = 8


@dataclass(frozen=True)
class KeyMaterial:
    """What a worker needs about one key.

    n and the published base (subgroup keys: h_s and the length of r) everywhere; p, q
    (and ω_p, ω_q) only in the key holder's own processes.
    """

    n: int
    p: int = field(default=0, repr=False)
    q: int = field(default=0, repr=False)
    hs: int = field(default=0, repr=False)
    randomizer_bits: int = 0
    wp: int = field(default=0, repr=False)
    wq: int = field(default=0, repr=False)


def join_ints(values: list[Any], width: int) -> bytes:
    """Concatenate non-negative ints as `width`-byte big-endian fields."""
    return b"".join(int(v).to_bytes(width, "big") for v in values)


def split_ints(blob: bytes, width: int) -> list[Any]:
    """Inverse of `join_ints`, returning gmpy2 mpz values."""
    return [
        gmpy2.mpz(int.from_bytes(blob[i : i + width], "big")) for i in range(0, len(blob), width)
    ]


class Obfuscator:
    """Fresh encryptions of zero h_s^r from a fixed-base table (one per process).

    Given the prime factors (only in the key holder's own processes), the table is kept
    modulo p² and q² separately and results are joined by the CRT: the same values, from
    multiplications of half the size (about 3× cheaper each). With a published subgroup
    base the key holder's exponents are drawn below ω_p and ω_q (28 table rows each at
    2048 bits instead of 128).
    """

    def __init__(self, material: KeyMaterial, window: int = _TABLE_WINDOW) -> None:
        n, p, q = material.n, material.p, material.q
        self.n = gmpy2.mpz(n)
        self.nsquare = self.n * self.n
        self.window = window
        if material.hs:
            base = gmpy2.mpz(material.hs)
            self.exp_bits = material.randomizer_bits
        else:
            while True:
                x = gmpy2.mpz(secrets.randbelow(n - 2) + 2)
                if gmpy2.gcd(x, self.n) == 1:
                    break
            h = (-(x * x)) % self.n
            base = gmpy2.powmod(h, self.n, self.nsquare)
            self.exp_bits = (int(n).bit_length() + 1) // 2
        self.moduli = [gmpy2.mpz(p) ** 2, gmpy2.mpz(q) ** 2] if p else [self.nsquare]
        # Per modulus: the exclusive bound of its exponent (0: `exp_bits` random bits).
        self.orders = [material.wp, material.wq] if p and material.hs else [0] * len(self.moduli)
        self.tables = [
            self._build(base % m, m, int(w).bit_length() if w else self.exp_bits)
            for m, w in zip(self.moduli, self.orders, strict=True)
        ]
        if p:
            self._crt = gmpy2.invert(self.moduli[0], self.moduli[1])

    def _build(self, base: Any, modulus: Any, exp_bits: int) -> list[list[Any]]:
        table = []
        for _ in range(-(-exp_bits // self.window)):
            row = [gmpy2.mpz(1), base]
            for _ in range(2, 1 << self.window):
                row.append(row[-1] * base % modulus)
            table.append(row)
            base = row[-1] * base % modulus
        return table

    def _exponents(self) -> list[int]:
        """One exponent per modulus (never all zero).

        Below ω_p and ω_q for the key holder of a subgroup key, else the same
        `exp_bits`-bit r for every modulus.
        """
        while True:
            if self.orders[0]:
                rs = [secrets.randbelow(int(w)) for w in self.orders]
            else:
                rs = [secrets.randbits(self.exp_bits)] * len(self.moduli)
            if any(rs):
                return rs

    def zero(self) -> Any:
        """h_s^r mod n² for a fresh random r (see `_exponents`)."""
        mask = (1 << self.window) - 1
        parts = []
        for table, modulus, r in zip(self.tables, self.moduli, self._exponents(), strict=True):
            acc = gmpy2.mpz(1)
            rest = r
            for row in table:
                digit = rest & mask
                if digit:
                    acc = acc * row[digit] % modulus
                rest >>= self.window
            parts.append(acc)
        if len(parts) == 1:
            return parts[0]
        low, high = self.moduli
        return parts[0] + low * ((parts[1] - parts[0]) * self._crt % high)


class _KeyState:
    def __init__(self, material: KeyMaterial) -> None:
        self.n = gmpy2.mpz(material.n)
        self.nsquare = self.n * self.n
        self.width = (int(self.nsquare).bit_length() + 7) // 8
        self.obfuscator = Obfuscator(material)
        self.p = gmpy2.mpz(material.p)
        self.q = gmpy2.mpz(material.q)
        if material.p:
            self.psquare = self.p * self.p
            self.qsquare = self.q * self.q
            # Decryption exponents: the order of every randomizer modulo p² (resp. q²).
            subgroup = bool(material.hs)
            self.ep = gmpy2.mpz(material.wp) if subgroup else self.p - 1
            self.eq = gmpy2.mpz(material.wq) if subgroup else self.q - 1
            self.hp = self._h(self.p, self.psquare, self.ep)
            self.hq = self._h(self.q, self.qsquare, self.eq)
            self.p_inv = gmpy2.invert(self.p, self.q)

    def _h(self, prime: Any, square: Any, exponent: Any) -> Any:
        g = (self.n + 1) % square
        return gmpy2.invert((gmpy2.powmod(g, exponent, square) - 1) // prime, prime)


StateKey = tuple[int, bool]
"""Which per-process state a task uses: (n, whether it holds the prime factors)."""

_STATE: dict[StateKey, _KeyState] = {}


def state_key(material: KeyMaterial) -> StateKey:
    """The `_STATE` key of `material`."""
    return (material.n, bool(material.p))


def install(material: KeyMaterial) -> None:
    """Pool initializer: build this process's per-key state (table, CRT constants).

    Idempotent. A key holder's state and a public-only state for the same n are kept apart,
    so two engines in one process (as in tests) each draw their own randomizer base.
    """
    key = state_key(material)
    if key not in _STATE:
        _STATE[key] = _KeyState(material)


def _state(key: StateKey) -> _KeyState:
    state = _STATE.get(key)
    if state is None:
        raise LookupError("key material was not installed in this process")
    return state


def encrypt_blob(key: StateKey, plaintexts: bytes) -> tuple[bytes, float]:
    """Encrypt packed plaintexts (each < n): c = (1 + m·n)·h_s^r mod n²."""
    st = _state(key)
    out = []
    spent = 0.0
    for m in split_ints(plaintexts, st.width):
        t0 = time.perf_counter()
        z = st.obfuscator.zero()
        spent += time.perf_counter() - t0
        out.append((1 + m * st.n) * z % st.nsquare)
    return join_ints(out, st.width), spent


def decrypt_blob(key: StateKey, ciphertexts: bytes) -> tuple[bytes, float]:
    """CRT decryption: two half-size powmods per ciphertext.

    The exponents are ω_p and ω_q for a subgroup key, p - 1 and q - 1 otherwise.
    """
    st = _state(key)
    out = []
    spent = 0.0
    for c in split_ints(ciphertexts, st.width):
        t0 = time.perf_counter()
        xp = gmpy2.powmod(c % st.psquare, st.ep, st.psquare)
        xq = gmpy2.powmod(c % st.qsquare, st.eq, st.qsquare)
        spent += time.perf_counter() - t0
        mp = (xp - 1) // st.p * st.hp % st.p
        mq = (xq - 1) // st.q * st.hq % st.q
        out.append(mp + (mq - mp) * st.p_inv % st.q * st.p)
    return join_ints(out, st.width), spent


def rerandomize_blob(key: StateKey, ciphertexts: bytes) -> tuple[bytes, float]:
    """Multiply each ciphertext by a fresh encryption of zero."""
    st = _state(key)
    out = []
    t0 = time.perf_counter()
    for c in split_ints(ciphertexts, st.width):
        out.append(c * st.obfuscator.zero() % st.nsquare)
    return join_ints(out, st.width), time.perf_counter() - t0


def shift_blob(key: StateKey, ciphertexts: bytes, bits: int) -> tuple[bytes, float]:
    """Shift every plaintext up by `bits` bits: c^(2^bits) mod n² (`bits` squarings)."""
    st = _state(key)
    exponent = gmpy2.mpz(1) << bits
    t0 = time.perf_counter()
    out = [gmpy2.powmod(c, exponent, st.nsquare) for c in split_ints(ciphertexts, st.width)]
    return join_ints(out, st.width), time.perf_counter() - t0


def product_blob(key: StateKey, bases: bytes, exponents: list[list[int]]) -> tuple[bytes, float]:
    """Re-randomized Π_t c_t^{E[t][k]} for each column k of E: one output ciphertext each."""
    st = _state(key)
    cts = split_ints(bases, st.width)
    t0 = time.perf_counter()
    outs = multi_exp_columns(cts, exponents, st.nsquare)
    outs = [c * st.obfuscator.zero() % st.nsquare for c in outs]
    spent = time.perf_counter() - t0
    return join_ints(outs, st.width), spent
