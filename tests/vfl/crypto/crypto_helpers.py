"""Helpers shared by the crypto tests."""

from __future__ import annotations

import math

from vfl.crypto import PrivateKey, ProductBudget


def product_tolerance(budget: ProductBudget, terms: int) -> float:
    """Worst-case fixed-point error of a sum of `terms` products (plus float slack)."""
    dx = 2.0 ** -(budget.x_frac_bits + 1)
    da = 2.0 ** -(budget.a_frac_bits + 1)
    per_term = budget.x_bound * da + budget.a_bound * dx + dx * da
    return terms * per_term * 1.0001 + 1e-9 * terms * budget.x_bound * budget.a_bound


def randomness(c: int, private_key: PrivateKey) -> int:
    """The key holder's view: recover rho from c = (1+n)^m * rho^n mod n^2."""
    n = private_key.public_key.n
    lam = math.lcm(private_key.p - 1, private_key.q - 1)
    return pow(int(c) % n, pow(n, -1, lam), n)
