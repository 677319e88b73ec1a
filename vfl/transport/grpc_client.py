"""A feature party's side of the training wire: `TrainService` over gRPC.

`GrpcTrainClient` is a `TrainService`: the feature runner calls it exactly as it would call
the label party's service in process. Each call gets a fresh envelope (sequence numbers
start from a clock reading, see `clock_seq`), a deadline (long for `next_step` and
`backward`, which wait at the label party), and bounded retries with backoff while the label
party is unreachable. A retry re-sends the same bytes with the same sequence number; the
server answers it from its per-party reply cache, so a retried call never runs twice.

Calls are serialized (one in flight at a time), which keeps sequence numbers in wire order.
Failures surface as domain errors naming the label party's address: `PeerUnreachableError`,
`PeerTimeoutError`, `PeerRefusedError` (and its `SessionChangedError`), `ProtocolViolationError`
and, rebuilt from the server's error kind, `CiphertextError`, `KeyMismatchError`,
`TrainingError`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.message import Message

from protocols import train_pb2
from psi import net
from psi.envelope import Sequencer, check_reply
from psi.observer import WireObserver
from vfl.crypto import PackedMatrix, PublicKey
from vfl.errors import ProtocolViolationError, VflError
from vfl.protocol.messages import BackwardFinish, BackwardReply, ForwardRequest
from vfl.protocol.session import Hello, HelloReply, Step
from vfl.transport import serde
from vfl.transport._wire import (
    ERROR_KEY,
    ERROR_KINDS,
    SERVICE,
    STEPS,
    TRAIN_PROTOCOL_VERSION,
    clock_seq,
)

__all__ = ["Deadlines", "GrpcTrainClient"]

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=Message)


@dataclass(frozen=True)
class Deadlines:
    """How long each call may take and how often an unreachable peer is retried.

    Attributes:
        call_s: deadline of the quick calls (hello, weights, forward, backward_finish,
            epoch_saved).
        blocking_s: deadline of the calls that wait at the label party for the other
            parties or the top model (`blocking`).
        retries: retries (with exponential backoff from 0.2 s, capped at 5 s) while the peer
            is UNAVAILABLE; other failures are not retried.
        blocking: the gRPC methods that get `blocking_s`.
    """

    call_s: float = 30.0
    blocking_s: float = 600.0
    retries: int = 4
    blocking: frozenset[str] = frozenset({"NextStep", "Backward"})


def _rebuild(exc: VflError) -> VflError:
    """Turn a mapped failure back into the error kind the server named, if it named one."""
    cause = exc.__cause__
    if not isinstance(cause, grpc.Call):
        return exc
    for key, value in cause.trailing_metadata() or ():
        if key == ERROR_KEY and value in ERROR_KINDS:
            return ERROR_KINDS[value](str(exc))
    return exc


class GrpcTrainClient:
    """`TrainService` for one feature party, over one channel to the label party.

    Args:
        channel: a channel from `psi.net.make_channel` (mTLS, explicit size limits).
        address: the label party's address, named in every error.
        run_id: the study run.
        me: this feature party's name (its certificate's common name under mTLS); the
            `party` argument of every call must equal it.
        peer_name: the label party's name, checked on every reply.
        deadlines: per-call deadlines and retries.
        observer: sees every message sent and received.
        public_key: this party's Paillier public key; by default the one sent at hello.
            The label party's key is taken from its hello reply.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        address: str,
        run_id: str,
        me: str,
        peer_name: str = "label",
        deadlines: Deadlines | None = None,
        observer: WireObserver | None = None,
        public_key: PublicKey | None = None,
    ) -> None:
        self.deadlines = deadlines or Deadlines()
        self.address, self.run_id, self.me, self.peer = address, run_id, me, peer_name
        self._channel = channel
        self._rpc = net.RpcClient(
            channel, SERVICE, address, self.deadlines.call_s, observer, self.deadlines.retries
        )
        self._seq = Sequencer(run_id, me, start=clock_seq(), version=TRAIN_PROTOCOL_VERSION)
        self._lock = threading.Lock()
        self._key = public_key
        self._label_key: PublicKey | None = None

    @classmethod
    def connect(
        cls,
        address: str,
        tls: net.TlsFiles | None,
        *,
        run_id: str,
        me: str,
        peer_name: str = "label",
        connect_timeout_s: float = 30.0,
        deadlines: Deadlines | None = None,
        observer: WireObserver | None = None,
        public_key: PublicKey | None = None,
    ) -> GrpcTrainClient:
        """Open a channel to `address` (mTLS unless `tls` is None), wait until it connects.

        Under mTLS the server must present a certificate naming `peer_name` (a DNS subject
        alternative name): another party's certificate from the same CA is refused.
        Other arguments as for the constructor.

        Raises:
            PeerUnreachableError: no connection within `connect_timeout_s`, naming `address`.
            PeerIdentityError: the server at `address` has no certificate for `peer_name`.
        """
        channel = net.connect(address, tls, server_name=peer_name, timeout_s=connect_timeout_s)
        return cls(
            channel,
            address=address,
            run_id=run_id,
            me=me,
            peer_name=peer_name,
            deadlines=deadlines,
            observer=observer,
            public_key=public_key,
        )

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> GrpcTrainClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- plumbing ------------------------------------------------------------------------

    def _check_party(self, party: str) -> None:
        if party != self.me:
            raise ProtocolViolationError(
                f"this client speaks for {self.me!r} and cannot call for {party!r}"
            )

    def _call(self, method: str, request: Any, reply_cls: type[R]) -> R:
        step = STEPS[method]
        d = self.deadlines
        timeout = d.blocking_s if method in d.blocking else d.call_s
        with self._lock:
            request.env.CopyFrom(self._seq.envelope(self.peer, step))
            try:
                reply = self._rpc.call(method, request, reply_cls, timeout_s=timeout)
            except VflError as exc:
                raise _rebuild(exc) from exc
        check_reply(
            cast(Any, reply).env,
            run_id=self.run_id,
            me=self.me,
            peer=self.peer,
            step=step,
            version=TRAIN_PROTOCOL_VERSION,
        )
        return reply

    # ---- TrainService --------------------------------------------------------------------

    def hello(self, party: str, msg: Hello) -> HelloReply:
        """Join (or re-join) the run; remembers the public key sent, for decoding replies."""
        self._check_party(party)
        if msg.public_key:
            self._key = PublicKey.from_bytes(msg.public_key)
        reply = serde.hello_reply_from_proto(
            self._call("Hello", serde.hello_to_proto(msg), train_pb2.HelloReply)
        )
        self._label_key = None
        if reply.public_key:
            try:
                self._label_key = PublicKey.from_bytes(reply.public_key)
            except VflError as exc:
                raise ProtocolViolationError(f"hello reply from {self.address}: {exc}") from exc
        return reply

    def next_step(self, party: str, session: str) -> Step:
        """Block (up to `deadlines.blocking_s`) until the label party names the next step."""
        self._check_party(party)
        request = train_pb2.NextStepRequest(session=session)
        reply = self._call("NextStep", request, train_pb2.StepReply)
        if not reply.HasField("step"):
            raise ProtocolViolationError(f"step reply from {self.address} carries no step")
        return serde.step_from_proto(reply.step)

    def weights(self, party: str, session: str, batch: int) -> PackedMatrix | None:
        """Fetch [[W̃]] under the label party's key for `batch`."""
        self._check_party(party)
        request = train_pb2.WeightsRequest(session=session, batch=batch)
        reply = self._call("Weights", request, train_pb2.WeightsReply)
        return serde.weights_reply_from_proto(reply, self._label_key)

    def forward(self, party: str, session: str, msg: ForwardRequest) -> None:
        """Send the projection under G's key and [[E]] (or, in plaintext mode, α)."""
        self._check_party(party)
        request = serde.forward_request_to_proto(msg)
        request.session = session
        self._call("Forward", request, train_pb2.Ack)

    def backward(self, party: str, session: str, batch: int) -> BackwardReply:
        """Block (up to `deadlines.blocking_s`) until the backward messages of `batch` exist."""
        self._check_party(party)
        request = train_pb2.BackwardRequest(session=session, batch=batch)
        reply = self._call("Backward", request, train_pb2.BackwardReply)
        return serde.backward_reply_from_proto(reply, self._label_key, self._key)

    def backward_finish(self, party: str, session: str, msg: BackwardFinish | None) -> None:
        """Send the noisy weight gradient under G's key (nothing in plaintext mode)."""
        self._check_party(party)
        request = serde.backward_finish_to_proto(msg)
        request.session = session
        self._call("BackwardFinish", request, train_pb2.Ack)

    def epoch_saved(self, party: str, session: str, epoch: int) -> None:
        """Acknowledge that this party's checkpoint for `epoch` is on disk."""
        self._check_party(party)
        request = train_pb2.EpochSavedRequest(session=session, epoch=epoch)
        self._call("EpochSaved", request, train_pb2.Ack)

    def abort(self, party: str, session: str, kind: str) -> None:
        """Tell the label party this party stopped on an error of its own (its kind only)."""
        self._check_party(party)
        self._call("Abort", train_pb2.AbortRequest(session=session, kind=kind), train_pb2.Ack)
