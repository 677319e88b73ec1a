"""The label party's side of the training wire: a thin servicer over a `TrainService`.

Each call is decoded, checked, handed to the service and encoded (decode → handle → encode,
as Flower's servicers do). Checks, before the service sees anything:

- envelope: this run, this stage's protocol version, addressed to this party, the step that
  belongs to the method, and a known feature party;
- identity: under mTLS the sender named in the envelope must equal the common name of the
  caller's verified certificate, so no party can speak for another;
- order: sequence numbers strictly increase per sender. A call that repeats the last
  sequence number with byte-identical content is a retry after a lost reply: it is answered
  from a one-entry cache per party (waiting for the original if it is still running), so a
  retried `forward` or `backward_finish` never runs twice. Anything else at or below the
  last number is a replay or a reorder and is refused.

Domain errors become status codes in one place (`_abort`, over `psi.net.abort`); each
refusal is logged with the party, the method and the reason (never payload content).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
from google.protobuf.message import Message

from protocols import train_pb2
from psi import net
from psi.envelope import Sequencer
from psi.observer import WireObserver
from vfl.crypto import PublicKey
from vfl.errors import (
    CryptoError,
    PeerRefusedError,
    PeerTimeoutError,
    ProtocolViolationError,
    TrainingError,
    VflError,
)
from vfl.protocol.session import TrainService
from vfl.transport import serde
from vfl.transport._wire import (
    ERROR_KEY,
    SERVICE,
    STEPS,
    TRAIN_PROTOCOL_VERSION,
    clock_seq,
    error_kind,
)

__all__ = ["PublicKeyFor", "TrainServicer", "add_train_service"]

logger = logging.getLogger(__name__)

#: Party name -> that party's Paillier public key (None: none known, e.g. plaintext mode).
PublicKeyFor = Callable[[str], PublicKey | None]
Handler = Callable[[str, Any], Message]


@dataclass
class _LastCall:
    """The newest call of one party: its number, a digest of its bytes, and its outcome."""

    seq: int
    digest: bytes
    done: threading.Event = field(default_factory=threading.Event)
    reply: Message | None = None
    error: VflError | None = None


def _abort(context: grpc.ServicerContext, exc: VflError) -> NoReturn:
    """Domain error -> status code: the one place on the training server."""
    kind = error_kind(exc)
    if kind is not None:
        context.set_trailing_metadata(((ERROR_KEY, kind),))
    if isinstance(exc, CryptoError):  # the caller sent bad ciphertexts: its fault, not ours
        exc = ProtocolViolationError(str(exc))
    net.abort(context, exc)


class TrainServicer:
    """Serves one `TrainService` to the feature parties of one run.

    Args:
        service: the label party's protocol logic.
        run_id: the study run.
        me: the label party's name (the recipient every envelope must name).
        parties: the feature parties of this run.
        public_key_for: each feature party's Paillier public key; by default the key the
            party sent in its last accepted hello.
        label_key: the label party's own Paillier public key (protected mode), under which
            the projections and weight gradients arrive.
    """

    def __init__(
        self,
        service: TrainService,
        *,
        run_id: str,
        me: str,
        parties: Collection[str],
        public_key_for: PublicKeyFor | None = None,
        label_key: PublicKey | None = None,
    ) -> None:
        self._service, self._run_id, self._me = service, run_id, me
        self._label_key = label_key
        self._parties = frozenset(parties)
        self._keys: dict[str, PublicKey] = {}
        self._key_for: PublicKeyFor = public_key_for or self._keys.get
        self._track_keys = public_key_for is None
        self._seq = Sequencer(run_id, me, start=clock_seq(), version=TRAIN_PROTOCOL_VERSION)
        self._lock = threading.Lock()
        self._last: dict[str, _LastCall] = {}

    def handler(self, observer: WireObserver | None = None) -> grpc.GenericRpcHandler:
        """The gRPC handler of the `vfl.train.Train` service (observed on the wire)."""
        handlers: dict[str, tuple[Handler, type[Message]]] = {
            "Hello": (self._hello, train_pb2.HelloRequest),
            "NextStep": (self._next_step, train_pb2.NextStepRequest),
            "Weights": (self._weights, train_pb2.WeightsRequest),
            "Forward": (self._forward, train_pb2.ForwardRequest),
            "Backward": (self._backward, train_pb2.BackwardRequest),
            "BackwardFinish": (self._backward_finish, train_pb2.BackwardFinishRequest),
            "EpochSaved": (self._epoch_saved, train_pb2.EpochSavedRequest),
            "Abort": (self._abort_run, train_pb2.AbortRequest),
        }
        methods = {name: (self._guard(name, fn), cls) for name, (fn, cls) in handlers.items()}
        return net.service_handler(SERVICE, methods, observer)

    # ---- checks --------------------------------------------------------------------------

    def _check_envelope(self, env: Any, step: str, cn: str | None) -> str:
        if env.run_id != self._run_id:
            raise PeerRefusedError(
                f"wrong run ID: the label party is on run {self._run_id!r}, the caller on "
                f"{env.run_id!r}"
            )
        if env.protocol_version != TRAIN_PROTOCOL_VERSION:
            raise PeerRefusedError(
                f"training protocol version {env.protocol_version} not supported (label "
                f"party speaks {TRAIN_PROTOCOL_VERSION})"
            )
        if env.sender not in self._parties:
            raise PeerRefusedError(f"unknown party {env.sender!r}: not a feature party of this run")
        if cn is not None and cn != env.sender:
            raise PeerRefusedError(
                f"certificate is for {cn!r} but the caller claims {env.sender!r}"
            )
        if env.recipient != self._me:
            raise PeerRefusedError(f"message addressed to {env.recipient!r}, this is {self._me!r}")
        if env.step != step:
            raise ProtocolViolationError(f"step {env.step!r} sent to the {step!r} call")
        return str(env.sender)

    def _admit(self, party: str, request: Message) -> tuple[_LastCall, bool]:
        """Order check; returns the call's cache entry and whether it is new (not a retry)."""
        seq = int(request.env.seq)  # type: ignore[attr-defined]
        digest = hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
        with self._lock:
            last = self._last.get(party)
            if last is not None and seq == last.seq and digest == last.digest:
                return last, False
            if last is not None and seq <= last.seq:
                raise ProtocolViolationError(
                    f"replayed or out-of-order sequence number {seq} (last was {last.seq})"
                )
            entry = _LastCall(seq, digest)
            self._last[party] = entry
            return entry, True

    # ---- dispatch ------------------------------------------------------------------------

    def _guard(self, method: str, fn: Handler) -> Callable[[Any, grpc.ServicerContext], Message]:
        step = STEPS[method]

        def behaviour(request: Any, context: grpc.ServicerContext) -> Message:
            party = str(request.env.sender)  # as claimed, until the checks confirm it
            try:
                party = self._check_envelope(request.env, step, net.peer_common_name(context))
                entry, fresh = self._admit(party, request)
                if fresh:
                    self._run(entry, fn, party, request, step)
                elif not entry.done.wait(timeout=context.time_remaining()):
                    raise PeerTimeoutError("the original of this retried call is still running")
                if entry.error is not None or entry.reply is None:
                    raise entry.error or TrainingError(f"no reply recorded for {step}")
                return entry.reply
            except VflError as exc:
                logger.warning("%s from %r refused or failed: %s", method, party, exc)
                _abort(context, exc)

        return behaviour

    def _run(self, entry: _LastCall, fn: Handler, party: str, request: Any, step: str) -> None:
        try:
            reply = fn(party, request)
            reply.env.CopyFrom(self._seq.envelope(party, step))  # type: ignore[attr-defined]
            entry.reply = reply
        except VflError as exc:
            entry.error = exc
        except Exception:
            logger.exception("the training service failed on %s", step)
            entry.error = TrainingError(f"internal error at the label party during {step}")
        finally:
            entry.done.set()

    # ---- handlers: decode, call the service, encode ---------------------------------------

    def _hello(self, party: str, req: train_pb2.HelloRequest) -> Message:
        msg = serde.hello_from_proto(req, party)
        key = None
        if self._track_keys and msg.public_key:
            try:
                key = PublicKey.from_bytes(msg.public_key)
            except CryptoError as exc:
                raise ProtocolViolationError(f"hello: {exc}") from exc
        reply = self._service.hello(party, msg)
        if self._track_keys:
            with self._lock:
                if key is None:
                    self._keys.pop(party, None)
                else:
                    self._keys[party] = key
        return serde.hello_reply_to_proto(reply)

    def _next_step(self, party: str, req: train_pb2.NextStepRequest) -> Message:
        step = self._service.next_step(party, req.session)
        return train_pb2.StepReply(step=serde.step_to_proto(step))

    def _weights(self, party: str, req: train_pb2.WeightsRequest) -> Message:
        weights = self._service.weights(party, req.session, req.batch)
        return serde.weights_reply_to_proto(req.batch, weights)

    def _forward(self, party: str, req: train_pb2.ForwardRequest) -> Message:
        msg = serde.forward_request_from_proto(req, self._label_key, self._key_for(party))
        self._service.forward(party, req.session, msg)
        return train_pb2.Ack()

    def _backward(self, party: str, req: train_pb2.BackwardRequest) -> Message:
        reply = self._service.backward(party, req.session, req.batch)
        return serde.backward_reply_to_proto(reply)

    def _backward_finish(self, party: str, req: train_pb2.BackwardFinishRequest) -> Message:
        msg = serde.backward_finish_from_proto(req, self._label_key)
        self._service.backward_finish(party, req.session, msg)
        return train_pb2.Ack()

    def _epoch_saved(self, party: str, req: train_pb2.EpochSavedRequest) -> Message:
        self._service.epoch_saved(party, req.session, req.epoch)
        return train_pb2.Ack()

    def _abort_run(self, party: str, req: train_pb2.AbortRequest) -> Message:
        self._service.abort(party, req.session, req.kind)
        return train_pb2.Ack()


def add_train_service(
    server: grpc.Server,
    service: TrainService,
    *,
    run_id: str,
    me: str,
    parties: Collection[str],
    public_key_for: PublicKeyFor | None = None,
    label_key: PublicKey | None = None,
    observer: WireObserver | None = None,
) -> TrainServicer:
    """Serve `service` as `vfl.train.Train` on `server` (which may serve alignment too).

    Make the server with `psi.net.make_server` (mTLS, explicit message-size limits) and start
    it after adding every service. Arguments as for `TrainServicer`; `observer` sees every
    request received and every reply sent.
    """
    servicer = TrainServicer(
        service,
        run_id=run_id,
        me=me,
        parties=parties,
        public_key_for=public_key_for,
        label_key=label_key,
    )
    server.add_generic_rpc_handlers((servicer.handler(observer),))
    return servicer
