"""Multi-exponentiation: many products of powers over shared bases, with shared squarings.

The homomorphic products need, for one chunk of ciphertexts c_1..c_T and a T×h matrix of
non-negative exponents E, the h values Π_t c_t^{E[t][k]} mod n². Doing each as T separate
powmods would cost T·L squarings per output (L = exponent bits); here every output shares
one chain of L squarings across its T bases, and precomputed tables are shared by all h
outputs of the chunk.
"""

from __future__ import annotations

from typing import Any

import gmpy2
import numpy as np

__all__ = ["multi_exp_columns"]


def _straus_cost(w: int, n_bases: int, n_out: int, exp_bits: int) -> int:
    return n_bases * ((1 << w) - 2) + n_out * (n_bases * -(-exp_bits // w) + exp_bits)


def _grouped_cost(g: int, n_bases: int, n_out: int, exp_bits: int) -> int:
    groups = -(-n_bases // g)
    return groups * ((1 << g) - 1 - g) + n_out * exp_bits * (groups + 1)


def multi_exp_columns(bases: list[Any], exponents: list[list[int]], modulus: Any) -> list[Any]:
    """For each column k of `exponents` (T×h): Π_t bases[t]^exponents[t][k] mod modulus.

    One multi-exponentiation per output with all squarings shared between the T bases, and
    precomputed tables shared by all h outputs. Two layouts, whichever the cost model
    (counted in modular multiplications, L = exponent bits) says is cheaper:

    - bit-sliced subset products: bases in groups of g, all 2^g subset products of each
      group precomputed (ceil(T/g)·(2^g - g - 1) once), then per output L squarings and
      L·ceil(T/g) multiplications;
    - Straus windows: per base the powers 1..2^w - 1 (T·(2^w - 2) once), then per output
      L squarings and T·ceil(L/w) multiplications.

    Exponents must be non-negative (the bit-sliced layout also needs them below 2^63).
    """
    n_out = len(exponents[0]) if exponents else 0
    exp_bits = max((int(e).bit_length() for row in exponents for e in row), default=0)
    if exp_bits == 0:
        return [gmpy2.mpz(1)] * n_out
    shape = (len(bases), n_out, exp_bits)
    w = min(range(1, 9), key=lambda v: _straus_cost(v, *shape))
    g = min(range(1, 11), key=lambda v: _grouped_cost(v, *shape))
    if exp_bits <= 63 and _grouped_cost(g, *shape) <= _straus_cost(w, *shape):
        return _grouped(bases, exponents, modulus, g, exp_bits)
    return _straus(bases, exponents, modulus, w, exp_bits)


def _grouped(
    bases: list[Any], exponents: list[list[int]], modulus: Any, g: int, exp_bits: int
) -> list[Any]:
    tables = []
    for lo in range(0, len(bases), g):
        group = bases[lo : lo + g]
        table = [gmpy2.mpz(1)] * (1 << len(group))
        for mask in range(1, 1 << len(group)):
            low = mask & -mask
            rest = mask ^ low
            base = group[low.bit_length() - 1]
            table[mask] = base if rest == 0 else table[rest] * base % modulus
        tables.append(table)
    # idx[k][t][grp]: which subset of group grp has bit t set in column k.
    exps = np.array(exponents, dtype=object)
    pad = (-len(bases)) % g
    if pad:
        exps = np.vstack([exps, np.zeros((pad, exps.shape[1]), dtype=object)])
    ints = exps.astype(np.uint64).reshape(-1, g, exps.shape[1])  # (groups, g, h)
    bits = (ints[..., None] >> np.arange(exp_bits, dtype=np.uint64)) & np.uint64(1)
    weights = (np.uint64(1) << np.arange(g, dtype=np.uint64))[None, :, None, None]
    idx = (bits * weights).sum(axis=1).transpose(1, 2, 0).tolist()  # (h, L, groups)
    results = []
    for per_bit in idx:
        acc = gmpy2.mpz(1)
        for t in range(exp_bits - 1, -1, -1):
            if acc != 1:
                acc = acc * acc % modulus
            for table, sel in zip(tables, per_bit[t], strict=True):
                if sel:
                    acc = acc * table[sel] % modulus
        results.append(acc)
    return results


def _straus(
    bases: list[Any], exponents: list[list[int]], modulus: Any, w: int, exp_bits: int
) -> list[Any]:
    tables = []
    for b in bases:
        row = [gmpy2.mpz(1), b]
        for _ in range(2, 1 << w):
            row.append(row[-1] * b % modulus)
        tables.append(row)
    mask = (1 << w) - 1
    results = []
    for k in range(len(exponents[0])):
        column = [int(row[k]) for row in exponents]
        acc = gmpy2.mpz(1)
        for win in range(-(-exp_bits // w) - 1, -1, -1):
            if acc != 1:
                acc = gmpy2.powmod(acc, 1 << w, modulus)
            shift = win * w
            for table, e in zip(tables, column, strict=True):
                digit = (e >> shift) & mask
                if digit:
                    acc = acc * table[digit] % modulus
        results.append(acc)
    return results
