"""Small wire observers: fan-out and byte counting (for summaries and benchmarks)."""

from __future__ import annotations

import threading
from collections import defaultdict

from psi.observer import Direction, WireObserver

__all__ = ["ByteCounter", "Tee"]


class Tee:
    """Pass every message to several observers."""

    def __init__(self, *observers: WireObserver) -> None:
        self.observers = observers

    def on_message(
        self, *, direction: Direction, peer: str, step: str, seq: int, payload: bytes
    ) -> None:
        """Forward to each observer in turn."""
        for obs in self.observers:
            obs.on_message(direction=direction, peer=peer, step=step, seq=seq, payload=payload)


class ByteCounter:
    """Counts messages and payload bytes per direction and step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes: dict[str, int] = defaultdict(int)
        self.messages: dict[str, int] = defaultdict(int)

    def on_message(
        self, *, direction: Direction, peer: str, step: str, seq: int, payload: bytes
    ) -> None:
        """Add one message."""
        del peer, seq
        with self._lock:
            self.bytes[direction] += len(payload)
            self.messages[direction] += 1
            self.bytes[f"{direction}:{step}"] += len(payload)

    @property
    def total(self) -> int:
        """Bytes sent plus received."""
        return self.bytes["send"] + self.bytes["recv"]
