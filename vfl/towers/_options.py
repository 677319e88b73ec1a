"""Reading a built-in tower's options and input shape, with errors that name the tower."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from vfl.errors import TowerError
from vfl.towers.base import TowerSpec

__all__ = ["Options", "expect_rank", "make_activation"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "none": nn.Identity,
}


class Options:
    """Typed access to ``spec.options`` against a table of defaults.

    Every option a built-in accepts has a default; an unknown key or a value of the wrong
    type is a `TowerError` naming the tower, the option and the accepted keys.
    """

    def __init__(self, spec: TowerSpec, defaults: Mapping[str, Any]) -> None:
        self._name = spec.name
        self._values = {**defaults, **spec.options}
        unknown = sorted(set(spec.options) - set(defaults))
        if unknown:
            raise TowerError(
                f"tower {spec.name!r}: unknown option(s) {unknown}; accepted: {sorted(defaults)}"
            )

    def _fail(self, key: str, want: str) -> TowerError:
        return TowerError(f"tower {self._name!r}: option {key!r} must be {want}")

    def ints(self, key: str) -> tuple[int, ...]:
        """A non-empty list of positive integers (layer widths)."""
        value = self._values[key]
        if not isinstance(value, list | tuple) or not value:
            raise self._fail(key, "a non-empty list of positive integers")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise self._fail(key, "a non-empty list of positive integers")
        return tuple(value)

    def integer(self, key: str, low: int = 1) -> int:
        """An integer no smaller than `low`."""
        value = self._values[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise self._fail(key, f"an integer >= {low}")
        return value

    def probability(self, key: str) -> float:
        """A float in [0, 1) (dropout rates)."""
        value = self._values[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise self._fail(key, "a number in [0, 1)")
        return float(value)

    def flag(self, key: str) -> bool:
        """A boolean."""
        value = self._values[key]
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def activation(self, key: str) -> str:
        """The name of an activation `make_activation` accepts."""
        value = self._values[key]
        if not isinstance(value, str) or value not in _ACTIVATIONS:
            raise self._fail(key, f"one of {sorted(_ACTIVATIONS)}")
        return value


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module (``tanh``, ``relu``, ``sigmoid`` or ``none``)."""
    return _ACTIVATIONS[name]()


def expect_rank(spec: TowerSpec, rank: int, layout: str) -> None:
    """Raise `TowerError` unless ``spec.input_shape`` has `rank` dimensions."""
    if len(spec.input_shape) != rank:
        raise TowerError(
            f"tower {spec.name!r}: input_shape must be {layout}, got {spec.input_shape}"
        )
