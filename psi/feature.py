"""A feature party's runner: connect out to the label party and drive the protocol.

Per bucket (run concurrently on a thread pool): encrypt own IDs under key b in row order, send
the sorted set as a RAW setup, receive the label party's H(x)^a, answer H(x)^ab. Then poll for
the outcome; under visibility "both" fetch H(x)^b of the final set per bucket, map it back to
rows, sort by normalized ID bytes and confirm the salted digest with the label party.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from protocols import align_pb2
from psi import buckets, ecdh, net
from psi.config import PsiConfig
from psi.envelope import Sequencer, check_reply
from psi.errors import (
    AlignmentError,
    ConfigError,
    IntersectionTooSmallError,
    OrderMismatchError,
    PeerError,
    ProtocolViolationError,
    VflError,
)
from psi.ids import IdSet
from psi.label_state import VISIBILITY_TO_WIRE
from psi.observer import WireObserver
from psi.order import digest, shared_order

__all__ = ["FeatureResult", "run_feature"]

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]
SERVICE = "vfl.align.Alignment"


@dataclass
class FeatureResult:
    """What a feature party learned: the final size and, under "both", its ordered members."""

    final_size: int
    pairwise_size: int
    ordered: list[int] = field(default_factory=list)  # indices into IdSet.ids, shared order
    digest: bytes = b""
    n_buckets: int = 0


class _Session:
    """One feature party's calls to the label party."""

    def __init__(self, cfg: PsiConfig, client: net.RpcClient) -> None:
        self.cfg, self.client = cfg, client
        self.me, self.peer = cfg.party.name, cfg.network.peer_name
        self.seq = Sequencer(cfg.party.run_id, self.me)

    def call(
        self, method: str, step: str, reply_step: str, reply_cls: type[Any], **fields: Any
    ) -> Any:
        request = _REQUESTS[method](env=self.seq.envelope(self.peer, step), **fields)
        reply = self.client.call(method, request, reply_cls)
        check_reply(
            reply.env, run_id=self.cfg.party.run_id, me=self.me, peer=self.peer, step=reply_step
        )
        return reply

    def poll(
        self, method: str, step: str, reply_step: str, reply_cls: type[Any], **fields: Any
    ) -> Any:
        deadline = time.monotonic() + self.cfg.network.wait_s
        while True:
            reply = self.call(method, step, reply_step, reply_cls, **fields)
            if not reply.pending:
                return reply
            if time.monotonic() > deadline:
                raise AlignmentError(
                    f"no outcome from the label party within {self.cfg.network.wait_s:g} s"
                )


_REQUESTS: dict[str, Any] = {
    "Hello": align_pb2.HelloRequest,
    "Exchange": align_pb2.SetupMessage,
    "Respond": align_pb2.ResponseMessage,
    "Result": align_pb2.ResultQuery,
    "Final": align_pb2.FinalQuery,
    "Confirm": align_pb2.DigestMessage,
    "Abort": align_pb2.AbortMessage,
}


def _run_bucket(s: _Session, b: ecdh.Ecdh, ids: IdSet, bucket: int, idx: list[int]) -> list[bytes]:
    """One bucket of the exchange; returns H(z)^b in the bucket's row order."""
    mine = b.hash_encrypt([ids.ids[i] for i in idx])
    reply = s.call(
        "Exchange",
        "align.setup",
        "align.request",
        align_pb2.RequestMessage,
        bucket=bucket,
        server_setup=ecdh.raw_setup(mine),
    )
    if reply.bucket != bucket:
        raise ProtocolViolationError(f"request for bucket {reply.bucket}, expected {bucket}")
    answer = b.raise_points(ecdh.parse_points(reply.request, "Request"))
    if s.cfg.align.visibility == "size-only":
        answer.sort()  # unlinkable to the label party's rows: it learns the count only
    s.call(
        "Respond",
        "align.response",
        "align.response",
        align_pb2.Ack,
        bucket=bucket,
        response=ecdh.response(answer),
    )
    return mine


def _exchange(
    s: _Session, ids: IdSet, key: bytes, n_buckets: int, progress: ProgressFn | None
) -> tuple[list[list[int]], list[list[bytes]]]:
    parts = buckets.assign(ids.ids, key, n_buckets)
    b = ecdh.Ecdh(ecdh.new_key())
    mine: list[list[bytes]] = [[] for _ in range(n_buckets)]
    with ThreadPoolExecutor(
        max_workers=s.cfg.align.workers, thread_name_prefix="psi-bucket"
    ) as pool:
        futures = {pool.submit(_run_bucket, s, b, ids, k, parts[k]): k for k in range(n_buckets)}
        try:
            for done, fut in enumerate(as_completed(futures), start=1):
                mine[futures[fut]] = fut.result()
                if progress:
                    progress("align", done, n_buckets)
        except BaseException:
            for pending in futures:  # buckets not started yet never start
                pending.cancel()
            raise
    return parts, mine


def _members(s: _Session, parts: list[list[int]], mine: list[list[bytes]]) -> list[int]:
    """Fetch H(x)^b of the final set per bucket and map the points to our ID indices."""
    members: list[int] = []
    for k, idx in enumerate(parts):
        reply = s.call("Final", "align.final", "align.final", align_pb2.FinalPoints, bucket=k)
        if not reply.points:
            continue
        where = {p: i for p, i in zip(mine[k], idx, strict=True)}
        for p in reply.points:
            i = where.get(p)
            if i is None:
                raise ProtocolViolationError("final set holds a point this party never sent")
            members.append(i)
    return members


def _outcome_error(reply: Any) -> VflError:
    if reply.outcome == align_pb2.TOO_SMALL:
        return IntersectionTooSmallError(reply.detail)
    if reply.outcome == align_pb2.MISMATCH:
        return OrderMismatchError(f"ordered lists differ between parties: {reply.detail}")
    return AlignmentError(f"alignment aborted by the label party: {reply.detail}")


def run_feature(
    cfg: PsiConfig,
    ids: IdSet,
    *,
    observer: WireObserver | None = None,
    progress: ProgressFn | None = None,
) -> FeatureResult:
    """Run one alignment as a feature party.

    Raises:
        PeerUnreachableError: the label party is not reachable within `timeout_s`.
        PeerIdentityError: the server at `peer` has no certificate for `peer_name`.
        PeerRefusedError: the label party refused us (run ID, policy, identity).
        IntersectionTooSmallError / OrderMismatchError / AlignmentError: the run failed.
    """
    n = cfg.network
    if n.peer is None:
        raise ConfigError("[network] peer (the label party's host:port) is required")
    tls = (
        None
        if n.insecure or not (n.ca_cert and n.cert and n.key)
        else net.TlsFiles(n.ca_cert, n.cert, n.key)
    )
    channel = net.connect(n.peer, tls, server_name=n.peer_name, timeout_s=n.timeout_s)
    try:
        s = _Session(cfg, net.RpcClient(channel, SERVICE, n.peer, n.timeout_s, observer))
        return _drive(s, ids, progress)
    finally:
        channel.close()


def _drive(s: _Session, ids: IdSet, progress: ProgressFn | None) -> FeatureResult:
    a = s.cfg.align
    hello = s.call(
        "Hello",
        "align.hello",
        "align.hello",
        align_pb2.HelloReply,
        visibility=VISIBILITY_TO_WIRE[a.visibility],
        min_intersection=a.min_intersection,
        n_ids=len(ids.ids),
    )
    if len(hello.bucket_key) != buckets.KEY_BYTES or not 1 <= hello.n_buckets <= 1 << 20:
        raise ProtocolViolationError("hello reply with a malformed bucket key or bucket count")
    try:
        parts, mine = _exchange(s, ids, hello.bucket_key, hello.n_buckets, progress)
        res = s.poll("Result", "align.result", "align.result", align_pb2.ResultReply)
        if res.outcome != align_pb2.OK:
            raise _outcome_error(res)
        out = FeatureResult(res.final_size, res.pairwise_size, n_buckets=hello.n_buckets)
        if a.visibility != "both":
            return out
        members = _members(s, parts, mine)
        if len(members) != res.final_size:
            raise ProtocolViolationError("final set size differs from the announced size")
        out.ordered = shared_order(ids.ids, members)
        out.digest = digest(hello.digest_salt, [ids.ids[i] for i in out.ordered])
        verdict = s.poll(
            "Confirm", "align.confirm", "align.verdict", align_pb2.Verdict, digest=out.digest
        )
        if verdict.outcome != align_pb2.OK:
            raise _outcome_error(verdict)
        return out
    except (ProtocolViolationError, PeerError, OSError, RuntimeError) as exc:
        _try_abort(s, type(exc).__name__)
        raise


def _try_abort(s: _Session, reason: str) -> None:
    try:
        s.call("Abort", "align.abort", "align.abort", align_pb2.Ack, reason=reason)
    except VflError:
        logger.debug("could not tell the label party we abort")
