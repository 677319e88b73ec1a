"""Envelopes: who sent a message, to whom, in which run, at which step and sequence number.

`Sequencer` stamps outgoing envelopes; `check_request` (at the label party) and `check_reply`
(at a feature party) validate incoming ones. Per-party sequence checks (replayed or out-of-order
numbers) need the sender's state and live in `psi.label_state`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Container
from typing import Any

from protocols import common_pb2
from psi.errors import PeerRefusedError, ProtocolViolationError

__all__ = ["PROTOCOL_VERSION", "Sequencer", "check_reply", "check_request"]

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


def check_request(
    env: Any, *, run_id: str, me: str, step: str, known: Container[str], cn: str | None
) -> None:
    """Check a request's envelope at the server.

    Args:
        env: the envelope received.
        run_id: this party's run.
        me: this party's name (the expected recipient).
        step: the step the called method implements.
        known: the parties allowed in this run.
        cn: the caller's certificate common name (None on insecure channels).

    Raises:
        PeerRefusedError: wrong run, protocol version, unknown party, identity or recipient.
        ProtocolViolationError: a step sent to the wrong call.
    """
    if env.run_id != run_id:
        raise PeerRefusedError(
            f"wrong run ID: this party is on run {run_id!r}, the caller on {env.run_id!r}"
        )
    if env.protocol_version != PROTOCOL_VERSION:
        raise PeerRefusedError(
            f"protocol version {env.protocol_version} not supported (this party speaks "
            f"{PROTOCOL_VERSION})"
        )
    if env.sender not in known:
        raise PeerRefusedError(f"unknown party {env.sender!r}: not in this run's parties")
    if cn is not None and cn != env.sender:
        raise PeerRefusedError(f"certificate is for {cn!r} but the caller claims {env.sender!r}")
    if env.recipient != me:
        raise PeerRefusedError(f"message addressed to {env.recipient!r}, this is {me!r}")
    if env.step != step:
        raise ProtocolViolationError(f"step {env.step!r} sent to the {step!r} call")
