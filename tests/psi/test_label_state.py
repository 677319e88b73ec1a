"""The label party's handlers, called directly: envelope, sequence and digest checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from protocols import align_pb2, common_pb2
from psi import ecdh
from psi.config import load_psi_config
from psi.envelope import PROTOCOL_VERSION
from psi.errors import PeerRefusedError, ProtocolViolationError
from psi.ids import IdSet
from psi.label_state import LabelRun
from psi.order import digest

IDS = [f"PAT-{i:04d}".encode() for i in range(30)]


def make_run(tmp_path: Path, **align: Any) -> LabelRun:
    doc = {
        "party": {"name": "label", "role": "label", "run_id": "r", "workdir": "w"},
        "network": {"insecure": True, "listen": "127.0.0.1:1", "feature_parties": ["f"]},
        "align": {"ids_file": "x.csv", "id_column": "pid", "min_intersection": 1, **align},
    }
    ids = IdSet(ids=IDS, rows=np.arange(len(IDS)), total_rows=len(IDS))
    return LabelRun(load_psi_config(doc, tmp_path), ids)


def env(step: str, seq: int, sender: str = "f", run_id: str = "r") -> common_pb2.Envelope:
    return common_pb2.Envelope(
        run_id=run_id,
        sender=sender,
        recipient="label",
        seq=seq,
        step=step,
        protocol_version=PROTOCOL_VERSION,
    )


def hello(run: LabelRun, seq: int = 0) -> align_pb2.HelloReply:
    req = align_pb2.HelloRequest(
        env=env("align.hello", seq), visibility=align_pb2.BOTH, min_intersection=1, n_ids=len(IDS)
    )
    return run.hello(req, None)


def full_exchange(run: LabelRun, mine: list[bytes]) -> None:
    """Play a well-behaved feature party holding `mine` (one bucket)."""
    b = ecdh.Ecdh(ecdh.new_key())
    reply = hello(run)
    assert reply.n_buckets == 1
    setup = ecdh.raw_setup(b.hash_encrypt(mine))
    req = run.exchange(
        align_pb2.SetupMessage(env=env("align.setup", 1), bucket=0, server_setup=setup), None
    )
    answer = b.raise_points(ecdh.parse_points(req.request))
    run.respond(
        align_pb2.ResponseMessage(
            env=env("align.response", 2), bucket=0, response=ecdh.response(answer)
        ),
        None,
    )


def test_wrong_run_unknown_party_and_wrong_identity_are_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    req = align_pb2.HelloRequest(
        env=env("align.hello", 0, run_id="x"), visibility=align_pb2.BOTH, min_intersection=1
    )
    with pytest.raises(PeerRefusedError, match="wrong run ID"):
        run.hello(req, None)
    req.env.run_id, req.env.sender = "r", "mallory"
    with pytest.raises(PeerRefusedError, match="unknown party"):
        run.hello(req, None)
    req.env.sender = "f"
    with pytest.raises(PeerRefusedError, match="certificate is for 'g'"):
        run.hello(req, "g")
    req.env.protocol_version = 99
    with pytest.raises(PeerRefusedError, match="protocol version"):
        run.hello(req, None)


def test_replayed_and_out_of_order_sequence_numbers_are_rejected(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    hello(run, seq=5)
    setup = align_pb2.SetupMessage(
        env=env("align.setup", 5), bucket=0, server_setup=ecdh.raw_setup([])
    )
    with pytest.raises(ProtocolViolationError, match="sequence number 5"):
        run.exchange(setup, None)
    setup.env.seq = 3
    with pytest.raises(ProtocolViolationError, match="sequence number 3"):
        run.exchange(setup, None)
    resp = align_pb2.ResponseMessage(env=env("align.response", 9), bucket=1)
    with pytest.raises(ProtocolViolationError, match="before its preceding step"):
        run.respond(resp, None)


def test_step_and_bucket_range_are_checked(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    hello(run)
    bad_step = align_pb2.SetupMessage(env=env("align.response", 1), bucket=0)
    with pytest.raises(ProtocolViolationError, match="step"):
        run.exchange(bad_step, None)
    out_of_range = align_pb2.SetupMessage(env=env("align.setup", 2), bucket=7)
    with pytest.raises(ProtocolViolationError, match="out of range"):
        run.exchange(out_of_range, None)


def test_matching_digest_gives_ok_and_a_different_one_a_mismatch(tmp_path: Path) -> None:
    for good in (True, False):
        run = make_run(tmp_path)
        full_exchange(run, IDS[:20] + [b"OTHER"])
        assert run.outcome is not None and run.outcome.final_size == 20
        ordered = sorted(IDS[:20]) if good else sorted(IDS[:20])[::-1]
        msg = align_pb2.DigestMessage(
            env=env("align.confirm", 10), digest=digest(run.salt, ordered)
        )
        verdict = run.confirm(msg, None, poll_s=1)
        assert verdict.outcome == (align_pb2.OK if good else align_pb2.MISMATCH)


def test_final_points_are_only_those_of_the_final_set(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    full_exchange(run, IDS[:12])
    reply = run.final(align_pb2.FinalQuery(env=env("align.final", 3), bucket=0), None)
    assert len(reply.points) == 12 and list(reply.points) == sorted(reply.points)


def test_decide_intersects_across_parties_and_applies_the_minimum() -> None:
    from psi.label_decide import compare_digests, decide

    ids = [b"d", b"a", b"c", b"b"]
    out = decide("both", 2, ids, {"f": {0, 1, 2}, "g": {1, 2, 3}}, {"f": 3, "g": 3})
    assert out.code == align_pb2.OK and [ids[i] for i in out.final] == [b"a", b"c"]
    small = decide("both", 3, ids, {"f": {0, 1, 2}, "g": {1, 2, 3}}, {"f": 3, "g": 3})
    assert small.code == align_pb2.TOO_SMALL and "size 2 is below the minimum 3" in small.detail
    sizes = decide("size-only", 3, ids, {"f": set(), "g": set()}, {"f": 3, "g": 2})
    assert sizes.code == align_pb2.TOO_SMALL
    assert compare_digests(b"x", {"f": b"x", "g": b"x"}, out) is out
    assert compare_digests(b"x", {"f": b"x", "g": b"y"}, out).code == align_pb2.MISMATCH


def test_an_absurd_announced_size_is_rejected_before_any_work(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    req = align_pb2.HelloRequest(
        env=env("align.hello", 0), visibility=align_pb2.BOTH, min_intersection=1, n_ids=1 << 40
    )
    with pytest.raises(ProtocolViolationError, match="at most"):
        run.hello(req, None)
    assert run.parties == {}
