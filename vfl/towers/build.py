"""`build_tower`: resolve a spec's factory, call it, and check what comes back."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from vfl.errors import TowerError
from vfl.towers.base import BuiltTower, TowerSpec, check_tower
from vfl.towers.registry import TowerRegistry, default_registry

__all__ = ["build_tower"]

logger = logging.getLogger(__name__)


def build_tower(
    spec: TowerSpec | Mapping[str, Any], registry: TowerRegistry | None = None
) -> BuiltTower:
    """Build the tower a party's config names, and verify it honours the contract.

    Parameters are initialised by the factory from torch's global RNG, so a
    `torch.manual_seed` before this call makes the result reproducible. The contract check
    itself draws no randomness.

    Args:
        spec: A `TowerSpec`, or a mapping with ``name``, ``out_dim``, ``input_shape`` and
            optional ``options`` (e.g. the ``[tower]`` table of a party TOML).
        registry: Where names resolve; `default_registry()` if omitted.

    Returns:
        The factory's module, unchanged, with the shapes it was checked against.

    Raises:
        TowerError: Unknown name, invalid spec, the factory raised, or its module's output on
            a zero batch is not ``(batch, out_dim)``; the message names the tower and lists
            the known ones.
    """
    if not isinstance(spec, TowerSpec):
        spec = TowerSpec.from_mapping(spec)
    registry = registry or default_registry()
    factory = registry.resolve(spec.name)
    try:
        module = factory(spec)
    except TowerError:
        raise
    except Exception as exc:  # the user's factory may raise anything
        raise TowerError(
            f"tower {spec.name!r}: factory raised {type(exc).__name__}: {exc}; "
            f"known towers: {registry.describe_known()}"
        ) from exc
    built = check_tower(spec, module, known=registry.describe_known())
    n_params = sum(p.numel() for p in built.module.parameters())
    logger.info("built tower %s: out_dim=%d, %d parameters", spec.name, spec.out_dim, n_params)
    return built
