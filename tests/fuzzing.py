"""Fuzz budgets shared by the fuzz tests: scale, per-target counts, and their record.

Each fuzz target runs at most `budget * VFL_FUZZ_SCALE` hypothesis cases, counts the cases
it really ran, asserts it ran at least 90 % of them, and, when `VFL_FUZZ_COUNTS` names a
file, appends {"file", "target", "cases"} as one JSON line (docs/SECURITY.md records them).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["FuzzBudget", "corrupted"]

SCALE = int(os.environ.get("VFL_FUZZ_SCALE", "1"))


class FuzzBudget:
    """The targets of one test module and their case budgets."""

    def __init__(self, module: str, budgets: Mapping[str, int]) -> None:
        self.module, self.budgets = module, dict(budgets)
        self.counts: Counter[str] = Counter()

    def settings(self, target: str) -> settings:
        """Hypothesis settings running `target`'s budget (times the scale)."""
        return settings(
            max_examples=self.budgets[target] * SCALE,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )

    def count(self, target: str) -> None:
        """Count one case of `target`."""
        self.counts[target] += 1

    def record(self, target: str) -> None:
        """Check the target really ran (almost) all its cases and record the count."""
        assert self.counts[target] >= self.budgets[target] * SCALE * 0.9, self.counts
        out = os.environ.get("VFL_FUZZ_COUNTS")
        if out:
            with open(out, "a", encoding="utf-8") as fh:
                line = {"file": self.module, "target": target, "cases": self.counts[target]}
                fh.write(json.dumps(line) + "\n")


@st.composite
def corrupted(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` after one corruption: bytes flipped, cut, inserted, zeroed, or all random."""
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "random", "zero_run"]))
    if kind == "random" or not data:
        return draw(st.binary(max_size=2 * len(data) + 16))
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return data[:pos]
    if kind == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=64)) + data[pos:]
    if kind == "zero_run":
        n = draw(st.integers(1, 64))
        return data[:pos] + b"\0" * n + data[pos + n :]
    flips = draw(
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)), max_size=4)
    )
    out = bytearray(data)
    for p, x in [(pos, draw(st.integers(1, 255))), *flips]:
        out[p] ^= x
    return bytes(out)
