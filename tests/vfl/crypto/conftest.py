"""Keys for the crypto tests: 1024-bit key pairs (fast; subgroup scheme, plus one of the djn
scheme) and one real 2048-bit pair, each generated once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vfl.crypto import PaillierEngine, PrivateKey, PublicKey, generate_keypair


@pytest.fixture(scope="session")
def keypair() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(1024)


@pytest.fixture(scope="session")
def other_keypair() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(1024)


@pytest.fixture(scope="session")
def djn_keypair() -> tuple[PublicKey, PrivateKey]:
    """A key of the djn scheme (no published base; per-process randomizer bases)."""
    return generate_keypair(1024, "djn")


@pytest.fixture(scope="session")
def keypair_2048() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(2048)


@pytest.fixture(scope="session")
def engine(keypair: tuple[PublicKey, PrivateKey]) -> Iterator[PaillierEngine]:
    """In-process engine (workers=1) on the 1024-bit key: fast for unit tests."""
    with PaillierEngine(*keypair, workers=1) as eng:
        yield eng


@pytest.fixture(scope="session")
def djn_engine(djn_keypair: tuple[PublicKey, PrivateKey]) -> Iterator[PaillierEngine]:
    """In-process engine on the djn key, whose dearer outputs make stacking pay sooner."""
    with PaillierEngine(*djn_keypair, workers=1) as eng:
        yield eng
