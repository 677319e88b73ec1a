"""The label party's decisions, as pure functions: the outcome of a run and the digest verdict.

Kept apart from the handlers (`psi.label_state`) so the rules read in one place: the final set
is the intersection across feature parties of the label party's matched rows, ordered by
normalized ID bytes; below the minimum nobody gets output; under `size-only` only pairwise
cardinalities exist (points under different feature keys cannot be compared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from protocols import align_pb2
from psi.order import shared_order

__all__ = ["Outcome", "compare_digests", "decide"]


@dataclass
class Outcome:
    """The run's result as the label party decided it."""

    code: Any  # an align_pb2.Outcome value
    detail: str = ""
    final: list[int] = field(default_factory=list)  # label ID indices, in shared order
    final_size: int = 0


def _too_small(size: int, minimum: int) -> Outcome:
    detail = (
        f"intersection size {size} is below the minimum {minimum} agreed by the parties; "
        "no output written"
    )
    return Outcome(align_pb2.TOO_SMALL, detail)


def decide(
    visibility: str,
    minimum: int,
    ids: Sequence[bytes],
    matched: Mapping[str, Set[int]],
    pairwise: Mapping[str, int],
) -> Outcome:
    """Intersect across parties and apply the minimum-size rule.

    Args:
        visibility: the run's policy.
        minimum: smallest intersection any party may receive.
        ids: the label party's normalized IDs.
        matched: per feature party, the label ID indices it shares (empty under size-only).
        pairwise: per feature party, the size of its intersection with the label party.
    """
    if visibility == "size-only":
        smallest = min(pairwise.values())
        return Outcome(align_pb2.OK) if smallest >= minimum else _too_small(smallest, minimum)
    common = set.intersection(*(set(m) for m in matched.values()))
    if len(common) < minimum:
        return _too_small(len(common), minimum)
    final = shared_order(ids, list(common))
    return Outcome(align_pb2.OK, final=final, final_size=len(final))


def compare_digests(mine: bytes, theirs: Mapping[str, bytes], ok: Outcome) -> Outcome:
    """`ok` if every party's digest equals ours, else a mismatch naming how many differ."""
    bad = sum(1 for d in theirs.values() if d != mine)
    if not bad:
        return ok
    return Outcome(align_pb2.MISMATCH, f"{bad} party(ies) hold a different ordered list")
