"""A typed reader over one TOML table that collects problems instead of raising."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Section"]


class Section:
    """Read typed keys from a TOML table; every problem goes to a shared list.

    Each getter returns a usable default when the value is wrong, so parsing carries on and
    the user sees every mistake at once.
    """

    def __init__(
        self, raw: Mapping[str, Any], name: str, base_dir: Path, problems: list[str]
    ) -> None:
        self.raw = raw
        self.name = name
        self.base_dir = base_dir
        self.problems = problems

    def problem(self, key: str, message: str) -> None:
        """Record a problem with `key` of this table."""
        self.problems.append(f"[{self.name}] {key}: {message}")

    def check_keys(self, known: Sequence[str]) -> None:
        """Report keys this table does not define (typos would otherwise pass silently)."""
        for key in self.raw:
            if key not in known:
                self.problem(key, f"unknown key (known: {', '.join(sorted(known))})")

    def has(self, key: str) -> bool:
        """Whether the key is present."""
        return key in self.raw

    def text(self, key: str, default: str | None = None) -> str | None:
        """A non-empty string."""
        value = self.raw.get(key, default)
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        self.problem(key, "must be a non-empty string")
        return default

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        """One of a fixed set of strings."""
        value = self.raw.get(key, default)
        if value in choices:
            return str(value)
        self.problem(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return default

    def path(self, key: str, *, required: bool = False) -> Path | None:
        """A path; relative paths are resolved against the config file's folder."""
        value = self.text(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def number(self, key: str, default: float, *, low: float, high: float) -> float:
        """A real number in [low, high]."""
        value = self.raw.get(key, default)
        if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
            return float(value)
        self.problem(key, f"must be a number in [{low}, {high}], got {value!r}")
        return default

    def whole(self, key: str, default: int, *, low: int, high: int) -> int:
        """An integer in [low, high]."""
        value = self.raw.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        self.problem(key, f"must be an integer in [{low}, {high}], got {value!r}")
        return default

    def flag(self, key: str, default: bool) -> bool:
        """A boolean."""
        value = self.raw.get(key, default)
        if isinstance(value, bool):
            return value
        self.problem(key, f"must be true or false, got {value!r}")
        return default

    def ints(self, key: str, *, lengths: Sequence[int]) -> tuple[int, ...] | None:
        """A list of positive integers with one of the allowed lengths."""
        value = self.raw.get(key)
        if value is None:
            return None
        ok = isinstance(value, list) and len(value) in lengths
        if ok and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            return tuple(int(v) for v in value)
        want = " or ".join(str(n) for n in lengths)
        self.problem(key, f"must be a list of {want} positive integers, got {value!r}")
        return None

    def floats(self, key: str, length: int) -> tuple[float, ...] | None:
        """A list of `length` numbers."""
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, list) and len(value) == length:
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                return tuple(float(v) for v in value)
        self.problem(key, f"must be a list of {length} numbers, got {value!r}")
        return None

    def strings(self, key: str) -> tuple[str, ...] | None:
        """A non-empty list of distinct scalars, kept as text (labels may be 0/1 or names)."""
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, list) and value and all(isinstance(v, str | int) for v in value):
            items = tuple(str(v) for v in value)
            if len(set(items)) == len(items):
                return items
        self.problem(
            key, f"must be a non-empty list of distinct strings or integers, got {value!r}"
        )
        return None

    def table(self, key: str) -> Section | None:
        """A nested table as its own section, or None when absent."""
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.problem(key, "must be a table")
            return None
        return Section(value, f"{self.name}.{key}", self.base_dir, self.problems)
