"""The label party's runner: serve the alignment service until every party has its answer.

Thin gRPC servicer over `LabelRun` (decode, call the handler, encode; domain errors become
status codes through `psi.net.abort`). The runner waits for the outcome, makes sure each feature
party has been handed its final answer, then stops the server; it raises on any non-OK outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from protocols import align_pb2
from psi import net
from psi.config import PsiConfig
from psi.errors import (
    AlignmentError,
    ConfigError,
    IntersectionTooSmallError,
    OrderMismatchError,
    PeerUnreachableError,
    VflError,
)
from psi.ids import IdSet
from psi.label_state import LabelRun, Outcome
from psi.observer import WireObserver

__all__ = ["SERVICE", "run_label"]

logger = logging.getLogger(__name__)

SERVICE = "vfl.align.Alignment"
_POLL_S = 5.0  # long-poll slice; well under any sane call deadline
ProgressFn = Callable[[str, int, int], None]


def _guard(
    run: LabelRun, fn: Callable[..., Any], *extra: Any
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def behaviour(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(request, net.peer_common_name(context), *extra)
        except VflError as exc:
            known = request.env.sender in run.parties
            if known and not isinstance(exc, AlignmentError):
                run.fail(f"party {request.env.sender!r}: {exc}")
            net.abort(context, exc)

    return behaviour


def _handler(run: LabelRun, observer: WireObserver | None, poll_s: float) -> grpc.GenericRpcHandler:
    methods = {
        "Hello": (_guard(run, run.hello), align_pb2.HelloRequest),
        "Exchange": (_guard(run, run.exchange), align_pb2.SetupMessage),
        "Respond": (_guard(run, run.respond), align_pb2.ResponseMessage),
        "Result": (_guard(run, run.result, poll_s), align_pb2.ResultQuery),
        "Final": (_guard(run, run.final), align_pb2.FinalQuery),
        "Confirm": (_guard(run, run.confirm, poll_s), align_pb2.DigestMessage),
        "Abort": (_guard(run, run.abort), align_pb2.AbortMessage),
    }
    return net.service_handler(SERVICE, methods, observer)


def _tls(cfg: PsiConfig) -> net.TlsFiles | None:
    n = cfg.network
    if n.insecure or n.ca_cert is None or n.cert is None or n.key is None:
        return None
    return net.TlsFiles(n.ca_cert, n.cert, n.key)


def _wait_outcome(run: LabelRun, wait_s: float, progress: ProgressFn | None) -> Outcome:
    """Wait for the verdict; fail the run if the parties fall silent for `wait_s`."""
    with run.cond:
        while run.verdict is None:
            run.cond.wait(timeout=1.0)
            if progress:
                total = sum(p.n_buckets for p in run.parties.values())
                progress("align", run.buckets_done, max(total, 1))
            idle = time.monotonic() - run.last_activity
            if run.verdict is None and idle > wait_s:
                missing = sorted(run.expected - set(run.parties))
                what = f"parties {missing} never joined" if missing else "parties fell silent"
                run.fail(f"{what} within {wait_s:g} s")
        return run.verdict


def _wait_delivered(run: LabelRun, grace_s: float) -> None:
    """Give every joined party the chance to fetch its final answer before we stop."""
    deadline = time.monotonic() + grace_s
    with run.cond:
        while not all(p.delivered for p in run.parties.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                logger.warning("not every party fetched the final answer before shutdown")
                return
            run.cond.wait(timeout=left)


def run_label(
    cfg: PsiConfig,
    ids: IdSet,
    *,
    observer: WireObserver | None = None,
    progress: ProgressFn | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> tuple[LabelRun, Outcome]:
    """Serve one alignment run and return the final state and the OK outcome.

    Raises:
        IntersectionTooSmallError: below the agreed minimum.
        OrderMismatchError: the parties' ordered-list digests disagree.
        AlignmentError: a party aborted, misbehaved or fell silent.
        PeerUnreachableError: some feature party never joined.
    """
    if cfg.network.listen is None:
        raise ConfigError("[network] listen (host:port) is required for the label party")
    run = LabelRun(cfg, ids)
    server, port = net.make_server(cfg.network.listen, _tls(cfg), max_workers=16)
    server.add_generic_rpc_handlers((_handler(run, observer, _POLL_S),))
    server.start()
    logger.info("label party listening on port %d for %d feature parties", port, len(run.expected))
    if on_listening:
        on_listening(port)
    try:
        verdict = _wait_outcome(run, cfg.network.wait_s, progress)
        _wait_delivered(run, min(cfg.network.wait_s, 2 * _POLL_S + cfg.network.timeout_s))
    finally:
        server.stop(grace=2.0).wait()
    return run, _raise_unless_ok(run, verdict)


def _raise_unless_ok(run: LabelRun, verdict: Outcome) -> Outcome:
    if verdict.code == align_pb2.OK:
        return verdict
    if verdict.code == align_pb2.TOO_SMALL:
        raise IntersectionTooSmallError(verdict.detail)
    if verdict.code == align_pb2.MISMATCH:
        raise OrderMismatchError(f"ordered lists differ between parties: {verdict.detail}")
    if set(run.parties) != run.expected:
        raise PeerUnreachableError(f"alignment failed: {verdict.detail}")
    raise AlignmentError(f"alignment failed: {verdict.detail}")
