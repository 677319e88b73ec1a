"""Hostile alignment messages: every peer byte the stage-1 code parses gives a clear error.

Targets: the label party's request decoders and handlers (`psi.label` over `psi.label_state`),
the feature party's handling of every reply (`psi.feature`), and a real gRPC label server
hammered with garbage that afterwards still aligns correctly.

Case counts are `EXAMPLES[target] * VFL_FUZZ_SCALE` at most; each target counts the cases it
really ran and, when `VFL_FUZZ_COUNTS` names a file, appends them there (docs/SECURITY.md).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pyarrow.parquet as pq
import pytest
from fuzzing import FuzzBudget
from hypothesis import given
from hypothesis import strategies as st
from psi_helpers import free_port, party_doc, write_ids

from protocols import align_pb2, common_pb2
from psi import ecdh, feature, label, net
from psi.config import PsiConfig, load_psi_config
from psi.envelope import PROTOCOL_VERSION
from psi.errors import ProtocolViolationError, VflError
from psi.feature import FeatureResult
from psi.ids import IdSet
from psi.label_state import LabelRun

EXAMPLES = {
    "label_request_bytes": 300,
    "label_message_sequences": 200,
    "feature_reply_mutations": 100,
    "server_garbage": 150,
}
FUZZ = FuzzBudget(__name__, EXAMPLES)
COUNTS = FUZZ.counts


LABEL_IDS = [f"PAT-{i:04d}" for i in range(40)]
FEATURE_IDS = LABEL_IDS[10:] + [f"OTHER-{i}" for i in range(8)]
METHODS = ["Hello", "Exchange", "Respond", "Result", "Final", "Confirm", "Abort"]
CLEAR_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
}


def _idset(ids: list[str]) -> IdSet:
    raw = [i.encode() for i in ids]
    return IdSet(ids=raw, rows=np.arange(len(raw), dtype=np.int64), total_rows=len(raw))


def _configs(tmp: Path, port: int = 1, **align: Any) -> tuple[PsiConfig, PsiConfig]:
    lab = party_doc(
        "label", "label", port, write_ids(tmp / "l.csv", LABEL_IDS), tmp / "wl",
        feature_parties=["imaging"], bucket_size=10, **align,
    )  # fmt: skip
    feat = party_doc(
        "imaging", "feature", port, write_ids(tmp / "f.csv", FEATURE_IDS), tmp / "wf",
        network={"wait_s": 10}, bucket_size=10, **align,
    )  # fmt: skip
    return load_psi_config(lab, tmp), load_psi_config(feat, tmp)


class _Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code, self.details = code, details


class _Context:
    """What the label servicer asks of a gRPC context."""

    def __init__(self, cn: str | None) -> None:
        self.cn = cn

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_common_name": [self.cn.encode()]} if self.cn else {}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Aborted(code, details)


class _Details:
    def __init__(self, method: str) -> None:
        self.method, self.invocation_metadata = method, ()


def _servicer(run: LabelRun) -> Callable[[str, bytes, str | None], Any]:
    """The label party's real servicer (decoder + guard + handler), called in-process."""
    handler = label._handler(run, None, 0.01)

    def call(method: str, raw: bytes, cn: str | None) -> Any:
        mh = handler.service(_Details(f"/{label.SERVICE}/{method}"))  # type: ignore[arg-type]
        assert mh.request_deserializer is None  # the behaviour parses (malformed: INVALID_ARGUMENT)
        try:
            return mh.unary_unary(raw, _Context(cn))
        except _Aborted as exc:
            return exc

    return call


def _env(seq: int, step: str, **over: Any) -> common_pb2.Envelope:
    fields: dict[str, Any] = {
        "run_id": "run-1", "sender": "imaging", "recipient": "label", "seq": seq,
        "step": step, "protocol_version": PROTOCOL_VERSION,
    }  # fmt: skip
    fields.update(over)
    return common_pb2.Envelope(**fields)


def _hello(seq: int = 1, **over: Any) -> align_pb2.HelloRequest:
    env = _env(seq, "align.hello", **over)
    return align_pb2.HelloRequest(
        env=env, visibility=align_pb2.BOTH, min_intersection=1, n_ids=len(FEATURE_IDS)
    )


def _valid_requests() -> list[tuple[str, bytes]]:
    points = ecdh.Ecdh(ecdh.new_key()).hash_encrypt([b"a", b"b"])
    msgs: list[tuple[str, Any]] = [
        ("Hello", _hello()),
        ("Exchange", align_pb2.SetupMessage(
            env=_env(2, "align.setup"), bucket=0, server_setup=ecdh.raw_setup(points))),
        ("Respond", align_pb2.ResponseMessage(
            env=_env(3, "align.response"), bucket=0, response=ecdh.response(points))),
        ("Result", align_pb2.ResultQuery(env=_env(4, "align.result"))),
        ("Final", align_pb2.FinalQuery(env=_env(5, "align.final"), bucket=1)),
        ("Confirm", align_pb2.DigestMessage(env=_env(6, "align.confirm"), digest=b"d" * 32)),
        ("Abort", align_pb2.AbortMessage(env=_env(7, "align.abort"), reason="why")),
    ]  # fmt: skip
    return [(m, msg.SerializeToString()) for m, msg in msgs]


@st.composite
def _mutated(draw: st.DrawFn, valid: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """A valid request's bytes, mutated; or plain random bytes to a random method."""
    method, raw = draw(st.sampled_from(valid))
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "random", "other_method"]))
    if kind == "random":
        return method, draw(st.binary(max_size=300))
    if kind == "other_method":
        return draw(st.sampled_from(METHODS)), raw
    pos = draw(st.integers(0, len(raw)))
    if kind == "truncate":
        return method, raw[:pos]
    if kind == "insert":
        return method, raw[:pos] + draw(st.binary(min_size=1, max_size=20)) + raw[pos:]
    pos = min(pos, len(raw) - 1)
    return method, raw[:pos] + bytes([raw[pos] ^ draw(st.integers(1, 255))]) + raw[pos + 1 :]


def test_label_request_bytes(tmp_path: Path) -> None:
    """Any bytes to any method of a fresh run: a reply or a clear refusal, state untouched
    unless the bytes still form a valid hello (then the party has simply joined)."""
    cfg, _ = _configs(tmp_path)
    ids, valid = _idset(LABEL_IDS), _valid_requests()

    @FUZZ.settings("label_request_bytes")
    @given(_mutated(valid), st.sampled_from(["imaging", None, "intruder"]))
    def one(request: tuple[str, bytes], cn: str | None) -> None:
        COUNTS["label_request_bytes"] += 1
        run = LabelRun(cfg, ids)
        out = _servicer(run)(request[0], request[1], cn)
        if isinstance(out, _Aborted):
            assert out.code in CLEAR_CODES, out
            assert out.details.strip()
            assert not run.parties and run.outcome is None
        else:
            assert request[0] in ("Hello", "Abort"), (request, out)

    one()
    FUZZ.record("label_request_bytes")


# ---- sequences of well-formed messages with hostile field values, to the pure handlers ----

_ECDH = ecdh.Ecdh(ecdh.new_key())
_POINTS = _ECDH.hash_encrypt([f"x{i}".encode() for i in range(12)])
POINT = st.sampled_from(_POINTS) | st.binary(max_size=40) | st.just(b"\x02" + b"\xff" * 32)
BUCKET = st.integers(0, 5) | st.integers(0, 2**32 - 1)


@st.composite
def _message(draw: st.DrawFn) -> tuple[str, Any]:
    method = draw(st.sampled_from(METHODS))
    step = {
        "Hello": "align.hello", "Exchange": "align.setup", "Respond": "align.response",
        "Result": "align.result", "Final": "align.final", "Confirm": "align.confirm",
        "Abort": "align.abort",
    }[method]  # fmt: skip
    env = _env(0, draw(st.sampled_from([step, step, "align.final", ""])))
    if method == "Hello":
        return method, align_pb2.HelloRequest(
            env=env,
            visibility=draw(st.integers(0, 4)),
            min_intersection=draw(st.sampled_from([1, 0, 2**64 - 1])),
            n_ids=draw(st.sampled_from([len(FEATURE_IDS), 0, 2**32, 2**64 - 1])),
        )
    if method == "Exchange":
        pts = draw(st.lists(POINT, max_size=50))
        setup = draw(st.sampled_from([ecdh.raw_setup(pts), ecdh.response(pts), b"".join(pts[:1])]))
        return method, align_pb2.SetupMessage(env=env, bucket=draw(BUCKET), server_setup=setup)
    if method == "Respond":
        pts = draw(st.lists(POINT, max_size=30))
        body = draw(st.sampled_from([ecdh.response(pts), ecdh.raw_setup(pts), b"\xff"]))
        return method, align_pb2.ResponseMessage(env=env, bucket=draw(BUCKET), response=body)
    if method == "Final":
        return method, align_pb2.FinalQuery(env=env, bucket=draw(BUCKET))
    if method == "Confirm":
        return method, align_pb2.DigestMessage(env=env, digest=draw(st.binary(max_size=64)))
    if method == "Abort":
        return method, align_pb2.AbortMessage(env=env, reason=draw(st.text(max_size=300)))
    return method, align_pb2.ResultQuery(env=env)


def test_label_message_sequences(tmp_path: Path) -> None:
    """A joined party sends well-formed messages with hostile values (wrong buckets, counts,
    points that are not on the curve, oversized setups), in any order, to the pure handlers:
    each is answered or refused with a `VflError`, never another exception."""
    cfg, _ = _configs(tmp_path)
    ids = _idset(LABEL_IDS)
    handlers: dict[str, Callable[[LabelRun, Any], Any]] = {
        "Hello": lambda r, m: r.hello(m, "imaging"),
        "Exchange": lambda r, m: r.exchange(m, "imaging"),
        "Respond": lambda r, m: r.respond(m, "imaging"),
        "Result": lambda r, m: r.result(m, "imaging", 0.0),
        "Final": lambda r, m: r.final(m, "imaging"),
        "Confirm": lambda r, m: r.confirm(m, "imaging", 0.0),
        "Abort": lambda r, m: r.abort(m, "imaging"),
    }

    @FUZZ.settings("label_message_sequences")
    @given(st.lists(_message(), min_size=1, max_size=8))
    def one(messages: list[tuple[str, Any]]) -> None:
        COUNTS["label_message_sequences"] += 1
        run = LabelRun(cfg, ids)
        run.hello(_hello(), "imaging")
        for seq, (method, msg) in enumerate(messages, start=2):
            msg.env.seq = seq
            try:
                handlers[method](run, msg)
            except VflError as exc:
                assert str(exc).strip()
        party = run.parties["imaging"]
        assert set(party.setups) <= set(party.bucket_seq)
        assert party.done <= set(party.bucket_seq)

    one()
    FUZZ.record("label_message_sequences")


def test_a_response_after_a_failed_response_is_a_protocol_violation(tmp_path: Path) -> None:
    """A second response for a bucket whose first response was refused (or raced with it)
    used to raise KeyError, an uncaught exception in the servicer (found while writing the
    sequence fuzzer, which rarely draws this exact order)."""
    cfg, _ = _configs(tmp_path)
    run = LabelRun(cfg, _idset(LABEL_IDS))
    run.hello(_hello(), "imaging")
    setup = align_pb2.SetupMessage(
        env=_env(2, "align.setup"), bucket=0, server_setup=ecdh.raw_setup(_POINTS[:2])
    )
    run.exchange(setup, "imaging")
    for seq in (3, 4):
        bad = align_pb2.ResponseMessage(env=_env(seq, "align.response"), bucket=0, response=b"\xff")
        with pytest.raises(ProtocolViolationError):
            run.respond(bad, "imaging")


# ---- the feature party's handling of replies: a label server that corrupts one reply ------

REPLIES: dict[str, type[Any]] = {
    "Hello": align_pb2.HelloReply, "Exchange": align_pb2.RequestMessage,
    "Respond": align_pb2.Ack, "Result": align_pb2.ResultReply,
    "Final": align_pb2.FinalPoints, "Confirm": align_pb2.Verdict, "Abort": align_pb2.Ack,
}  # fmt: skip
TEXT = st.sampled_from(["run-1", "label", "imaging", "align.final", "", "align.request"])


@st.composite
def _mutation(draw: st.DrawFn) -> dict[str, Any]:
    """One corruption of one reply, drawn up front (the server applies it in its own thread)."""
    return {
        "call": draw(st.integers(0, 14)),
        "kind": draw(st.sampled_from(["flip", "truncate", "random", "field", "field", "points"])),
        "pos": draw(st.floats(0, 1)),
        "byte": draw(st.integers(1, 255)),
        "blob": draw(st.binary(max_size=80)),
        "field": draw(st.integers(0, 20)),
        "text": draw(TEXT | st.text(max_size=10)),
        "int": draw(st.sampled_from([0, 1, 2, 3, 4, 5, 7, 2**20 + 1, 2**32 - 1])),
        "op": draw(st.sampled_from(["dup", "drop", "append", "invalid", "swap", "reverse"])),
    }


def _points_op(points: list[bytes], m: dict[str, Any]) -> list[bytes]:
    op, pts = m["op"], list(points)
    if op == "dup" and pts:
        pts.append(pts[0])
    elif op == "drop" and pts:
        pts.pop()
    elif op == "append":
        pts.append(_POINTS[0])
    elif op == "invalid":
        pts[:1] = [m["blob"]]
    elif op == "swap" and pts:
        pts[0] = _POINTS[1]
    else:
        pts.reverse()
    return pts


def _corrupt(method: str, raw: bytes, m: dict[str, Any]) -> bytes:
    pos = int(m["pos"] * len(raw))
    if m["kind"] == "flip" and raw:
        pos = min(pos, len(raw) - 1)
        return raw[:pos] + bytes([raw[pos] ^ m["byte"]]) + raw[pos + 1 :]
    if m["kind"] == "truncate":
        return raw[:pos]
    if m["kind"] == "random":
        return bytes(m["blob"])
    msg = REPLIES[method].FromString(raw)
    if m["kind"] == "points":
        if method == "Exchange":
            msg.request = ecdh.response(_points_op(ecdh.parse_points(msg.request), m))
        elif method == "Final":
            pts = _points_op(list(msg.points), m)
            del msg.points[:]
            msg.points.extend(pts)
        return bytes(msg.SerializeToString())
    fields = [(msg.env, f) for f in msg.env.DESCRIPTOR.fields]
    fields += [(msg, f) for f in msg.DESCRIPTOR.fields if f.name != "env"]
    holder, fd = fields[m["field"] % len(fields)]
    if fd.type == fd.TYPE_STRING:
        setattr(holder, fd.name, m["text"])
    elif fd.type == fd.TYPE_BYTES and fd.label == fd.LABEL_REPEATED:
        getattr(holder, fd.name).append(m["blob"])
    elif fd.type == fd.TYPE_BYTES:
        setattr(holder, fd.name, m["blob"])
    elif fd.type == fd.TYPE_BOOL:
        setattr(holder, fd.name, not getattr(holder, fd.name))
    else:
        limit = 2**32 - 1 if fd.type in (fd.TYPE_UINT32, fd.TYPE_ENUM) else 2**64 - 1
        setattr(holder, fd.name, min(m["int"], limit) if fd.type != fd.TYPE_ENUM else m["int"] % 9)
    return bytes(msg.SerializeToString())


class _CorruptingLabel:
    """The real label handlers behind a real gRPC server that corrupts one chosen reply."""

    def __init__(self, cfg: PsiConfig, ids: IdSet) -> None:
        self.cfg, self.ids, self.lock = cfg, ids, threading.Lock()
        self.reset(None)

    def reset(self, mutation: dict[str, Any] | None) -> None:
        self.run = LabelRun(self.cfg, self.ids)
        self.inner = label._handler(self.run, None, 0.02)
        self.mutation, self.calls = mutation, 0

    def behaviour(self, method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def call(raw: bytes, context: grpc.ServicerContext) -> bytes:
            mh = self.inner.service(_Details(f"/{label.SERVICE}/{method}"))  # type: ignore[arg-type]
            out = bytes(mh.response_serializer(mh.unary_unary(raw, context)))
            with self.lock:
                k, self.calls = self.calls, self.calls + 1
            m = self.mutation
            return _corrupt(method, out, m) if m is not None and m["call"] == k else out

        return call

    def handler(self) -> grpc.GenericRpcHandler:
        methods = {m: grpc.unary_unary_rpc_method_handler(self.behaviour(m)) for m in METHODS}
        return grpc.method_handlers_generic_handler(label.SERVICE, methods)


def test_feature_reply_mutations(tmp_path: Path) -> None:
    """Every reply the feature party parses, corrupted one at a time over real gRPC (bytes
    flipped or cut, random bytes, any field set to a hostile value, points duplicated, dropped,
    swapped or not on the curve): the feature party either raises a `VflError` or ends with
    exactly the ordered list the label party decided, never another exception and never a
    silent disagreement. (A corrupted bucket key makes both sides agree on a smaller set: a
    label party can always under-report matches, which the semi-honest model leaves open.)"""
    port = free_port()
    lab_cfg, feat_cfg = _configs(tmp_path, port, workers=1)
    feat_cfg = load_psi_config(
        party_doc(
            "imaging", "feature", port, tmp_path / "f.csv", tmp_path / "wf",
            network={"wait_s": 1, "timeout_s": 5}, bucket_size=10, workers=1,
        ),
        tmp_path,
    )  # fmt: skip
    feat_ids = _idset(FEATURE_IDS)
    evil = _CorruptingLabel(lab_cfg, _idset(LABEL_IDS))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((evil.handler(),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")  # one channel: closing costs 0.15 s
    session = feature._Session(
        feat_cfg, net.RpcClient(channel, label.SERVICE, f"127.0.0.1:{port}", 5.0)
    )
    try:
        clean = feature._drive(session, feat_ids, None)
        assert clean.final_size == 30 and clean.n_buckets == 4

        @FUZZ.settings("feature_reply_mutations")
        @given(_mutation())
        def one(mutation: dict[str, Any]) -> None:
            COUNTS["feature_reply_mutations"] += 1
            evil.reset(mutation)
            try:
                got: FeatureResult = feature._drive(session, feat_ids, None)
            except VflError as exc:
                assert str(exc).strip()
                return
            out = evil.run.outcome
            assert out is not None and evil.run.verdict is out, "feature done, label not"
            mine = [FEATURE_IDS[i] for i in got.ordered]
            assert mine == [LABEL_IDS[i] for i in out.final] and got.final_size == len(mine)
            if mine != [FEATURE_IDS[i] for i in clean.ordered]:
                COUNTS["feature_reply_mutations:agreed_smaller"] += 1

        one()
    finally:
        channel.close()
        server.stop(0).wait()
    FUZZ.record("feature_reply_mutations")


# ---- a real label server (mTLS) under garbage, then a correct alignment ---------------------


def _raw_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, written by hand (to carry non-UTF-8 strings)."""
    n, size = len(payload), b""
    while True:
        size += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            break
    return bytes([number << 3 | 2]) + size + payload


@st.composite
def _garbage(draw: st.DrawFn, valid: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """Requests an intruder (a certified party that is not in the run) might send."""
    kind = draw(st.sampled_from(["bytes", "envelope", "non_utf8"]))
    if kind == "bytes":
        return draw(_mutated(valid))
    method, raw = draw(st.sampled_from(valid))
    msg = REQUESTS[method].FromString(raw)
    if kind == "envelope":
        msg.env.sender = draw(st.sampled_from(["imaging", "intruder", "label"]) | st.text())
        msg.env.run_id = draw(st.sampled_from(["run-1", "run-2"]) | st.text(max_size=5))
        msg.env.recipient = draw(st.sampled_from(["label", "imaging"]))
        msg.env.seq = draw(st.integers(0, 2**64 - 1))
        return method, bytes(msg.SerializeToString())
    bad = draw(st.binary(min_size=1, max_size=8).map(lambda b: b"\xff" + b))
    env = _raw_field(1, bad) + _raw_field(2, b"intruder") + _raw_field(3, b"label")
    return method, _raw_field(1, env) + msg.SerializeToString()[
        len(msg.env.SerializeToString()) + 2 :
    ]


REQUESTS: dict[str, type[Any]] = {
    "Hello": align_pb2.HelloRequest, "Exchange": align_pb2.SetupMessage,
    "Respond": align_pb2.ResponseMessage, "Result": align_pb2.ResultQuery,
    "Final": align_pb2.FinalQuery, "Confirm": align_pb2.DigestMessage,
    "Abort": align_pb2.AbortMessage,
}  # fmt: skip


def test_real_server_survives_garbage_then_aligns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real label server over mutual TLS gets a batch of garbage from a certified intruder:
    malformed protobuf, hostile envelopes (any sender, run, sequence number), non-UTF-8
    strings, and one message over the size limit (lowered to 1 MiB for this test). Each call
    is answered with a clear status; afterwards the real feature party aligns, and both
    parties' outputs hold exactly the shared patients, in the same order."""
    from psi.run import align
    from vfl.certs import init_certs

    monkeypatch.setattr(
        net,
        "_OPTIONS",
        [("grpc.max_send_message_length", 4 << 20), ("grpc.max_receive_message_length", 1 << 20)],
    )
    certs = init_certs(tmp_path / "certs", ["label", "imaging", "intruder"])

    def tls(name: str) -> dict[str, Any]:
        return {
            "insecure": False, "ca_cert": str(certs.ca_cert),
            "cert": str(certs.party_certs[name]), "key": str(certs.party_keys[name]),
        }  # fmt: skip

    port = free_port()
    lab_doc = party_doc(
        "label", "label", port, write_ids(tmp_path / "l.csv", LABEL_IDS), tmp_path / "wl",
        feature_parties=["imaging"], network={**tls("label"), "wait_s": 120}, bucket_size=10,
    )  # fmt: skip
    feat_doc = party_doc(
        "imaging", "feature", port, write_ids(tmp_path / "f.csv", FEATURE_IDS), tmp_path / "wf",
        network={**tls("imaging"), "peer_name": "label"}, bucket_size=10,
    )  # fmt: skip
    results: dict[str, Any] = {}
    listening = threading.Event()

    def serve() -> None:
        try:
            results["label"] = align(
                load_psi_config(lab_doc, tmp_path), on_listening=lambda _p: listening.set()
            )
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results["label"] = exc
        listening.set()

    server = threading.Thread(target=serve)
    server.start()
    assert listening.wait(30)
    files = net.TlsFiles(certs.ca_cert, certs.party_certs["intruder"], certs.party_keys["intruder"])
    channel = net.make_channel(f"localhost:{port}", files, server_name="label")
    seen: Counter[str] = Counter()
    try:
        grpc.channel_ready_future(channel).result(timeout=30)

        def send(method: str, raw: bytes) -> grpc.RpcError:
            stub = channel.unary_unary(f"/{label.SERVICE}/{method}")
            with pytest.raises(grpc.RpcError) as info:
                stub(raw, timeout=10)
            return info.value

        @FUZZ.settings("server_garbage")
        @given(_garbage(_valid_requests()))
        def one(request: tuple[str, bytes]) -> None:
            COUNTS["server_garbage"] += 1
            err: Any = send(*request)
            seen[err.code().name] += 1
            assert err.code() in CLEAR_CODES, (err.code(), err.details())

        one()
        big: Any = send("Exchange", b"\x1a" + b"\xff\xff\x7f" + b"\0" * (2 << 20))
        assert big.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        channel.close()
    results["imaging"] = align(load_psi_config(feat_doc, tmp_path))
    server.join(60)
    assert isinstance(results["label"], dict), results["label"]
    assert results["imaging"]["sizes"]["final"] == 30
    rows = {
        n: pq.read_table(tmp_path / w / "aligned.parquet")["row"].to_pylist()
        for n, w in (("label", "wl"), ("imaging", "wf"))
    }
    shared = [LABEL_IDS[i] for i in rows["label"]]
    assert shared == [FEATURE_IDS[i] for i in rows["imaging"]]
    assert sorted(shared) == sorted(set(LABEL_IDS) & set(FEATURE_IDS))
    assert seen["INVALID_ARGUMENT"] > 0 and seen["INTERNAL"] == 0
    FUZZ.record("server_garbage")
