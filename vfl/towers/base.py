"""The tower contract: what a party declares (`TowerSpec`) and what it gets back (`BuiltTower`).

A tower is any factory ``(spec: TowerSpec) -> torch.nn.Module`` whose module maps a batch of the
party's inputs, shape ``(batch, *spec.input_shape)``, to an embedding of shape
``(batch, spec.out_dim)``. Towers know nothing about encryption or transport: the user's own
module is used as it is, never wrapped in a framework subclass. `check_tower` is the one place
that verifies a factory kept that promise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import torch
from torch import nn

from vfl.errors import TowerError

__all__ = ["BuiltTower", "TowerFactory", "TowerSpec", "check_tower"]

logger = logging.getLogger(__name__)

#: A tower factory: takes the party's spec, returns a plain `torch.nn.Module`.
TowerFactory: TypeAlias = Callable[["TowerSpec"], nn.Module]

_SPEC_KEYS = ("name", "out_dim", "input_shape", "options")
_CHECK_BATCH = 2


@dataclass(frozen=True)
class TowerSpec:
    """One party's tower, as named in its config.

    Attributes:
        name: A registered name (``"image2d-cnn"``), an entry point of the ``vfl.towers`` group,
            or ``"package.module:factory"``.
        out_dim: Width of the embedding the tower must produce per sample.
        input_shape: Shape of one sample, without the batch dimension.
        options: Factory-specific settings (widths, dropout, ...), passed through untouched.
    """

    name: str
    out_dim: int
    input_shape: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        problems = _spec_problems(self.name, self.out_dim, self.input_shape, self.options)
        if problems:
            raise TowerError(f"invalid tower spec {self.name!r}: " + "; ".join(problems))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TowerSpec:
        """Build a spec from a config table (e.g. a party TOML's ``[tower]`` section).

        Raises:
            TowerError: A key is missing or unknown, or a value has the wrong type.
        """
        unknown = sorted(set(data) - set(_SPEC_KEYS))
        missing = [k for k in ("name", "out_dim", "input_shape") if k not in data]
        if unknown or missing:
            parts = [f"missing key(s) {missing}"] if missing else []
            parts += [f"unknown key(s) {unknown}"] if unknown else []
            raise TowerError(f"invalid tower spec {data.get('name')!r}: " + "; ".join(parts))
        shape = data["input_shape"]
        if isinstance(shape, list | tuple):
            shape = tuple(shape)
        return cls(
            name=data["name"],
            out_dim=data["out_dim"],
            input_shape=shape,
            options=data.get("options", {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for manifests); `from_mapping` reads it back."""
        return {
            "name": self.name,
            "out_dim": self.out_dim,
            "input_shape": list(self.input_shape),
            "options": dict(self.options),
        }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _spec_problems(name: object, out_dim: object, shape: object, options: object) -> list[str]:
    problems = []
    if not isinstance(name, str) or not name.strip():
        problems.append("name must be a non-empty string")
    if not _is_int(out_dim) or int(out_dim) < 1:  # type: ignore[call-overload]
        problems.append(f"out_dim must be a positive integer, got {out_dim!r}")
    if not isinstance(shape, tuple) or not shape or not all(_is_int(d) and d > 0 for d in shape):
        problems.append(f"input_shape must be a non-empty tuple of positive ints, got {shape!r}")
    if not isinstance(options, Mapping):
        problems.append(f"options must be a mapping, got {type(options).__name__}")
    return problems


@dataclass(frozen=True)
class BuiltTower:
    """A checked tower: the user's module plus the shapes it was verified against.

    Attributes:
        module: The module the factory returned, unchanged.
        out_dim: Embedding width, checked on a zero batch.
        input_shape: Per-sample input shape the check used.
        spec: The spec it was built from (for manifests and checkpoints).
    """

    module: nn.Module
    out_dim: int
    input_shape: tuple[int, ...]
    spec: TowerSpec


def check_tower(spec: TowerSpec, module: object, known: str = "") -> BuiltTower:
    """Verify that `module` honours the contract for `spec`, without touching its state.

    Runs one forward pass on a zero batch in eval mode under `torch.no_grad` (no RNG is drawn and
    batch-norm statistics are not updated), then restores the module's training flag.

    Args:
        spec: The spec the factory was called with.
        module: What the factory returned.
        known: Text listing the known towers, appended to error messages.

    Raises:
        TowerError: Not an `nn.Module`, forward fails, or the output is not a finite floating
            tensor of shape ``(batch, spec.out_dim)``.
    """
    suffix = f" (known towers: {known})" if known else ""
    if not isinstance(module, nn.Module):
        got = type(module).__name__
        raise TowerError(
            f"tower {spec.name!r}: factory returned {got}, expected torch.nn.Module{suffix}"
        )
    output = _probe(spec, module, suffix)
    expected = (_CHECK_BATCH, spec.out_dim)
    if not isinstance(output, torch.Tensor):
        got = type(output).__name__
        raise TowerError(f"tower {spec.name!r}: forward returned {got}, expected a Tensor{suffix}")
    if tuple(output.shape) != expected:
        raise TowerError(
            f"tower {spec.name!r}: output shape {tuple(output.shape)} on input "
            f"{(_CHECK_BATCH, *spec.input_shape)}, expected {expected} (out_dim={spec.out_dim})"
            f"{suffix}"
        )
    if not output.is_floating_point() or not bool(torch.isfinite(output).all()):
        raise TowerError(f"tower {spec.name!r}: output is not a finite floating tensor{suffix}")
    logger.debug("tower %s checked: out_dim=%d", spec.name, spec.out_dim)
    return BuiltTower(module=module, out_dim=spec.out_dim, input_shape=spec.input_shape, spec=spec)


def _probe(spec: TowerSpec, module: nn.Module, suffix: str) -> object:
    """Run one zero batch through `module` in eval mode; restore its mode afterwards."""
    was_training = module.training
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    batch = torch.zeros((_CHECK_BATCH, *spec.input_shape), dtype=dtype)
    module.eval()
    try:
        with torch.no_grad():
            return module(batch)
    except Exception as exc:  # the user's forward may raise anything
        raise TowerError(
            f"tower {spec.name!r}: forward on a zero batch of shape "
            f"{tuple(batch.shape)} failed: {type(exc).__name__}: {exc}{suffix}"
        ) from exc
    finally:
        module.train(was_training)
