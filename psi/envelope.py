"""Envelopes: who sent a message, to whom, in which run, at which step and sequence number.

`Sequencer` stamps outgoing envelopes; `check_reply` validates the envelope of a reply. The
label party's stricter per-party checks (unknown party, replayed or out-of-order sequence
numbers) live in `psi.label_state`.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from protocols import common_pb2
from psi.errors import PeerRefusedError, ProtocolViolationError

__all__ = ["PROTOCOL_VERSION", "Sequencer", "check_reply"]

#: Version of the stage-1 wire protocol; parties on different versions refuse each other.
PROTOCOL_VERSION = 1


class Sequencer:
    """Stamps envelopes with this party's run ID, name and a strictly increasing number.

    Args:
        run_id: the study run.
        sender: this party's name.
        start: first sequence number (stage 2 starts from a clock reading, so a restarted
            party keeps numbering above what the peer has already seen).
        version: protocol version stamped on every envelope (each stage has its own).
    """

    def __init__(
        self, run_id: str, sender: str, *, start: int = 0, version: int = PROTOCOL_VERSION
    ) -> None:
        self.run_id, self.sender, self.version = run_id, sender, version
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def envelope(self, recipient: str, step: str) -> common_pb2.Envelope:
        """Return a fresh envelope for one message to `recipient` at `step`."""
        with self._lock:
            seq = next(self._counter)
        return common_pb2.Envelope(
            run_id=self.run_id,
            sender=self.sender,
            recipient=recipient,
            seq=seq,
            step=step,
            protocol_version=self.version,
        )


def check_reply(
    env: Any, *, run_id: str, me: str, peer: str, step: str, version: int = PROTOCOL_VERSION
) -> None:
    """Check a reply's envelope: our run, from our peer, to us, at the expected step.

    Raises:
        PeerRefusedError: the peer is on another run or protocol version.
        ProtocolViolationError: the reply is from or for someone else, or at another step.
    """
    if env.run_id != run_id:
        raise PeerRefusedError(f"peer is on run {env.run_id!r}, this party on {run_id!r}")
    if env.protocol_version != version:
        raise PeerRefusedError(
            f"peer speaks protocol version {env.protocol_version}, this party {version}"
        )
    if env.sender != peer or env.recipient != me:
        raise ProtocolViolationError(
            f"reply from {env.sender!r} to {env.recipient!r}; expected {peer!r} to {me!r}"
        )
    if env.step != step:
        raise ProtocolViolationError(f"reply at step {env.step!r}; expected {step!r}")
