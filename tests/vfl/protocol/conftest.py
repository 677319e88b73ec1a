"""Real Paillier keys for the layer tests: one pair for H, one for G (1024 bits: tests only)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from vfl.crypto import PaillierEngine, generate_keypair


@dataclass(frozen=True)
class Engines:
    """H's own engine and its view of G's key; G's own engine and its view of H's key."""

    h_own: PaillierEngine
    h_on_g: PaillierEngine
    g_own: PaillierEngine
    g_on_h: PaillierEngine


@pytest.fixture(scope="package")
def engines():
    pk_h, sk_h = generate_keypair(1024)
    pk_g, sk_g = generate_keypair(1024)
    with (
        PaillierEngine(pk_h, sk_h, workers=1) as h_own,
        PaillierEngine(pk_g, workers=1) as h_on_g,
        PaillierEngine(pk_g, sk_g, workers=1) as g_own,
        PaillierEngine(pk_h, workers=1) as g_on_h,
    ):
        yield Engines(h_own, h_on_g, g_own, g_on_h)
