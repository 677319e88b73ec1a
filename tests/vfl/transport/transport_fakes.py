"""A fake label-party `TrainService` that records what it receives, and a gRPC rig around it."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from psi import net
from vfl.errors import ProtocolViolationError
from vfl.protocol import (
    BackwardReply,
    Hello,
    HelloReply,
    LayerSpec,
    SessionChangedError,
    Step,
)
from vfl.transport import Deadlines, GrpcTrainClient, add_train_service

RUN = "run-1"
HELLO = Hello("imaging", "train", "plaintext", 3, 10, "d")
SPEC = LayerSpec(in_dim=3, out_dim=2, batch_size=6)


@dataclass
class FakeService:
    """Echoes ciphertexts back and records calls.

    Its hello reply names the caller's own key as the label party's (unless `label_key` is
    set), so every ciphertext it echoes decodes at the caller under either key.
    """

    session: str = "s-1"
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    block: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    explode: bool = False
    label_key: bytes | None = None
    weights_reply: Any = None

    def hello(self, party, msg):
        self.calls.append(("hello", party, msg))
        key = msg.public_key if self.label_key is None else self.label_key
        return HelloReply(session=self.session, spec=SPEC, start_epoch=0, epochs=2, public_key=key)

    def _check(self, session):
        if session != self.session:
            raise SessionChangedError("the label party restarted; re-join with hello")

    def next_step(self, party, session):
        self._check(session)
        self.calls.append(("next_step", party, session))
        self.entered.set()
        if self.block is not None:
            self.block.wait(timeout=10)
        return Step("train", epoch=1, batch=4, positions=np.array([5, 0, 2**40, 7]))

    def weights(self, party, session, batch):
        self._check(session)
        self.calls.append(("weights", party, batch))
        return self.weights_reply

    def forward(self, party, session, msg):
        self._check(session)
        if self.explode:
            raise RuntimeError("secret internal detail")
        self.calls.append(("forward", party, msg))

    def backward(self, party, session, batch):
        self._check(session)
        self.calls.append(("backward", party, batch))
        forwards = [m for name, _, m in self.calls if name == "forward"]
        if not forwards:  # as the real label party: out of place, not a crash
            raise ProtocolViolationError(f"backward for batch {batch} before any forward")
        fwd = forwards[-1]
        if fwd.alpha_plain is not None:
            return BackwardReply(batch=batch, grad_alpha_plain=fwd.alpha_plain * 2)
        return BackwardReply(batch=batch, delta=fwd.projection, grad_input=fwd.noise_share)

    def backward_finish(self, party, session, msg):
        self._check(session)
        self.calls.append(("backward_finish", party, msg))

    def epoch_saved(self, party, session, epoch):
        self._check(session)
        self.calls.append(("epoch_saved", party, epoch))

    def abort(self, party, session, kind):
        self._check(session)
        self.calls.append(("abort", party, kind))

    def named(self, name):
        return [c for c in self.calls if c[0] == name]


class GrpcRig:
    """A started gRPC server with the train service; makes clients connected to it."""

    def __init__(
        self,
        service,
        *,
        tls=None,
        parties=("imaging", "genomics"),
        observer=None,
        server=None,
        label_key=None,
    ):
        self.service = service
        if server is None:
            self.server, port = net.make_server("127.0.0.1:0", tls)
        else:
            self.server, port = server
        self.address = f"127.0.0.1:{port}"
        self.servicer = add_train_service(
            self.server,
            service,
            run_id=RUN,
            me="label",
            parties=parties,
            observer=observer,
            label_key=label_key,
        )
        self.server.start()
        self._clients: list[GrpcTrainClient] = []

    def client(self, me="imaging", *, tls=None, run_id=RUN, deadlines=None, **kw):
        c = GrpcTrainClient.connect(
            self.address,
            tls,
            connect_timeout_s=5,
            run_id=run_id,
            me=me,
            peer_name="label",
            deadlines=deadlines or Deadlines(call_s=10, blocking_s=10, retries=2),
            **kw,
        )
        self._clients.append(c)
        return c

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for c in self._clients:
            c.close()
        self.server.stop(grace=None).wait()


def raw_call(address, method, request, reply_cls, timeout=5.0):
    """One unary call with exactly the request given (envelope included), no retries."""
    with grpc.insecure_channel(address) as channel:
        stub = channel.unary_unary(
            f"/vfl.train.Train/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reply_cls.FromString,
        )
        return stub(request, timeout=timeout)


def free_port():
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
