"""Collect every input problem first, then fail once with the full list.

A party must never crash mid-training because of one bad file: loaders validate everything up
front and raise a single `InputDataError` listing all problems. Messages name the file (the
party's manifest, table or VCF, never a per-patient path, which often embeds the ID) and the
patient's aligned position; never an ID.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from vfl.errors import InputDataError

__all__ = ["Problems", "format_positions"]

#: Positions listed per problem before the rest is summarised as a count.
_MAX_POSITIONS = 20


def format_positions(positions: Iterable[int]) -> str:
    """Render positions as ``"position 3"`` or ``"5 positions: 1, 2, ... (+N more)"``."""
    items = sorted(set(positions))
    if len(items) == 1:
        return f"position {items[0]}"
    shown = ", ".join(str(p) for p in items[:_MAX_POSITIONS])
    more = f" (+{len(items) - _MAX_POSITIONS} more)" if len(items) > _MAX_POSITIONS else ""
    return f"{len(items)} positions: {shown}{more}"


class Problems:
    """An ordered list of problems found while loading one party's data."""

    def __init__(self) -> None:
        self._items: list[str] = []

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> list[str]:
        """The problems found so far, in discovery order."""
        return list(self._items)

    def add(self, source: Path | str, message: str) -> None:
        """Record a problem with a file as a whole (or a column of it)."""
        self._items.append(f"{source}: {message}")

    def add_at(self, source: Path | str, positions: Iterable[int], message: str) -> None:
        """Record one kind of problem affecting patients at the given aligned positions."""
        pos = list(positions)
        if pos:
            self._items.append(f"{source}: {message} at {format_positions(pos)}")

    def extend(self, other: Problems) -> None:
        """Append another collector's problems."""
        self._items.extend(other.items)

    def raise_if_any(self, what: str) -> None:
        """Raise one `InputDataError` listing every problem, if there is any.

        Args:
            what: what was being loaded, e.g. ``"imaging data"``.

        Raises:
            InputDataError: with one line per problem.
        """
        if self._items:
            lines = "\n".join(f"  - {p}" for p in self._items)
            raise InputDataError(f"{len(self._items)} problem(s) loading {what}:\n{lines}")
