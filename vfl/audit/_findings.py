"""What a check found: one `Finding` names the transcript, the line and the sequence number."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass(frozen=True)
class Finding:
    """One problem a verification or scan found.

    Attributes:
        check: which check found it, e.g. "chain.edited", "peer.missing", "scan.id-leak".
        source: the transcript (file name) it is in.
        lineno: 1-based line number, when it is tied to one line.
        seq: the message's sequence number, when it is tied to one message.
        detail: a sentence an auditor can act on; never an ID, feature or key.
    """

    check: str
    source: str
    lineno: int | None
    seq: int | None
    detail: str

    def where(self) -> str:
        """Return "file line N (seq S)", leaving out what is unknown."""
        parts = [self.source]
        if self.lineno is not None:
            parts.append(f"line {self.lineno}")
        if self.seq is not None:
            parts.append(f"(seq {self.seq})")
        return " ".join(parts)

    def __str__(self) -> str:
        return f"{self.where()}: [{self.check}] {self.detail}"
