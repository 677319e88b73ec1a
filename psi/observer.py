"""A hook that sees every message a party sends or receives.

`psi` never imports `vfl`; the audit trail (`vfl.audit`) implements `WireObserver` and the CLI
hands it to the transports, which call it once per message in each direction.
"""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["Direction", "NullObserver", "WireObserver"]

Direction = Literal["send", "recv"]


class WireObserver(Protocol):
    """Receives every message a party puts on, or takes off, the wire."""

    def on_message(
        self, *, direction: Direction, peer: str, step: str, seq: int, payload: bytes
    ) -> None:
        """Record one message.

        Args:
            direction: "send" or "recv", from this party's point of view.
            peer: the other party's identity.
            step: protocol step name (e.g. "align.setup", "train.forward").
            seq: the message's sequence number within this run and peer.
            payload: the serialized protobuf exactly as it crossed the wire.
        """


class NullObserver:
    """Observer that records nothing (the default when auditing is off)."""

    def on_message(
        self, *, direction: Direction, peer: str, step: str, seq: int, payload: bytes
    ) -> None:
        """Ignore the message."""
