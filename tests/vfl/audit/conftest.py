"""Helpers for audit tests: a pair of transcripts recording the same conversation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vfl.audit import Transcript

Conversation = list[tuple[str, str, bytes]]  # (sender, step, payload)

CONVERSATION: Conversation = [
    ("imaging", "align.setup", b"\x0a\x03abc"),
    ("label", "align.request", b"\x0a\x04wxyz"),
    ("imaging", "align.response", b"\x0a\x02hi"),
    ("imaging", "train.forward", b"\x12\x05hello"),
    ("label", "train.forward", b"\x12\x03bye"),
]


def record_pair(
    a_path: Path, b_path: Path, conversation: Conversation, *, capture: bool = True
) -> None:
    """Record `conversation` between imaging (A) and label (B) in two transcripts."""
    seqs = {"imaging": 0, "label": 0}
    with (
        Transcript(a_path, run_id="r1", party="imaging", capture=capture) as a,
        Transcript(b_path, run_id="r1", party="label", capture=capture) as b,
    ):
        sides = {"imaging": a, "label": b}
        for sender, step, payload in conversation:
            receiver = "label" if sender == "imaging" else "imaging"
            seq = seqs[sender]
            seqs[sender] += 1
            sides[sender].on_message(
                direction="send", peer=receiver, step=step, seq=seq, payload=payload
            )
            sides[receiver].on_message(
                direction="recv", peer=sender, step=step, seq=seq, payload=payload
            )


@pytest.fixture
def pair(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    def make(conversation: Conversation = CONVERSATION, capture: bool = True) -> tuple[Path, Path]:
        a, b = tmp_path / "imaging.jsonl", tmp_path / "label.jsonl"
        record_pair(a, b, conversation, capture=capture)
        return a, b

    return make
