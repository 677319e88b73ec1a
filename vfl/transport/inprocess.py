"""`TrainService` in process: the feature party calls the label party's service directly.

For unit tests and single-machine experiments. By default every message makes the full trip
through `vfl.transport.serde` and protobuf bytes in both directions, so tests of the protocol
also exercise the codec (and see the same errors a real peer would); `roundtrip=False` hands
the objects over untouched.
"""

from __future__ import annotations

import threading
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from vfl.crypto import PackedMatrix, PublicKey
from vfl.errors import ProtocolViolationError
from vfl.protocol.messages import BackwardFinish, BackwardReply, ForwardRequest
from vfl.protocol.session import Hello, HelloReply, Step, TrainService
from vfl.transport import serde
from vfl.transport.grpc_server import PublicKeyFor

__all__ = ["InProcessTransport", "through_bytes"]

M = TypeVar("M", bound=Message)


def through_bytes(msg: M) -> M:
    """Serialize `msg` and parse it back, as the wire would.

    Raises:
        ProtocolViolationError: the bytes do not parse (cannot happen for a valid message).
    """
    out = type(msg)()
    try:
        out.ParseFromString(msg.SerializeToString())
    except DecodeError as exc:
        raise ProtocolViolationError(f"malformed {type(msg).__name__}") from exc
    return out


class InProcessTransport:
    """Implements `TrainService` by calling `service` directly.

    Args:
        service: the label party's service.
        roundtrip: send every message through serde and protobuf bytes (default).
        public_key_for: each feature party's Paillier public key; by default the key the
            party sent at its last hello.

    The label party's key is taken from each hello reply.
    """

    def __init__(
        self,
        service: TrainService,
        *,
        roundtrip: bool = True,
        public_key_for: PublicKeyFor | None = None,
    ) -> None:
        self._service, self.roundtrip = service, roundtrip
        self._keys: dict[str, PublicKey] = {}
        self._key_for: PublicKeyFor = public_key_for or self._keys.get
        self._lock = threading.Lock()
        self._label_key: PublicKey | None = None

    def hello(self, party: str, msg: Hello) -> HelloReply:
        """Join (or re-join) the run."""
        if self.roundtrip:
            msg = serde.hello_from_proto(through_bytes(serde.hello_to_proto(msg)), party)
        key = PublicKey.from_bytes(msg.public_key) if msg.public_key else None
        reply = self._service.hello(party, msg)
        with self._lock:
            if key is None:
                self._keys.pop(party, None)
            else:
                self._keys[party] = key
        if self.roundtrip:
            reply = serde.hello_reply_from_proto(through_bytes(serde.hello_reply_to_proto(reply)))
        with self._lock:
            self._label_key = PublicKey.from_bytes(reply.public_key) if reply.public_key else None
        return reply

    def next_step(self, party: str, session: str) -> Step:
        """Block until the next step for this party is known."""
        step = self._service.next_step(party, session)
        if self.roundtrip:
            step = serde.step_from_proto(through_bytes(serde.step_to_proto(step)))
        return step

    def weights(self, party: str, session: str, batch: int) -> PackedMatrix | None:
        """[[W̃]] under the label party's key."""
        weights = self._service.weights(party, session, batch)
        if self.roundtrip:
            wire = through_bytes(serde.weights_reply_to_proto(batch, weights))
            weights = serde.weights_reply_from_proto(wire, self._label_key)
        return weights

    def forward(self, party: str, session: str, msg: ForwardRequest) -> None:
        """The party's projection for the current batch."""
        if self.roundtrip:
            wire = through_bytes(serde.forward_request_to_proto(msg))
            msg = serde.forward_request_from_proto(wire, self._label_key, self._key_for(party))
        self._service.forward(party, session, msg)

    def backward(self, party: str, session: str, batch: int) -> BackwardReply:
        """Block until δ for `batch` is known; return the backward messages."""
        reply = self._service.backward(party, session, batch)
        if self.roundtrip:
            reply = serde.backward_reply_from_proto(
                through_bytes(serde.backward_reply_to_proto(reply)),
                self._label_key,
                self._key_for(party),
            )
        return reply

    def backward_finish(self, party: str, session: str, msg: BackwardFinish | None) -> None:
        """Close the backward pass (None in plaintext mode)."""
        if self.roundtrip:
            wire = through_bytes(serde.backward_finish_to_proto(msg))
            msg = serde.backward_finish_from_proto(wire, self._label_key)
        self._service.backward_finish(party, session, msg)

    def epoch_saved(self, party: str, session: str, epoch: int) -> None:
        """Acknowledge that the party's checkpoint for `epoch` is on disk."""
        self._service.epoch_saved(party, session, epoch)

    def abort(self, party: str, session: str, kind: str) -> None:
        """The party stopped on an error of its own."""
        self._service.abort(party, session, kind)
