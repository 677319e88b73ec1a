"""Message sizes, hostile bytes and many round trips against one real gRPC server."""

from __future__ import annotations

import os

import grpc
import numpy as np
import pytest
from fuzzing import FuzzBudget, corrupted
from hypothesis import given
from hypothesis import strategies as st
from transport_fakes import HELLO, GrpcRig, raw_call

from protocols import train_pb2
from vfl.protocol import ForwardRequest, Hello


def test_messages_beyond_grpc_default_4mb_limit_pass(rig):
    client = rig.client()
    client.hello("imaging", HELLO)
    values = np.full((1024, 720), -0.5)  # ~5.9 MB of float64

    client.forward("imaging", "s-1", ForwardRequest(0, alpha_plain=values))

    got = rig.service.named("forward")[0][2].alpha_plain
    assert got.shape == (1024, 720) and got[1023, 719] == -0.5


def test_garbage_bytes_are_refused_and_the_server_stays_up(rig):
    with grpc.insecure_channel(rig.address) as channel:
        stub = channel.unary_unary("/vfl.train.Train/Forward")  # raw bytes in and out
        for junk in (b"\xff\xff\xff", b"\x0a\x05abc", os.urandom(64)):
            with pytest.raises(grpc.RpcError) as info:
                stub(junk, timeout=5)
            assert info.value.code() != grpc.StatusCode.OK
    reply = rig.client().hello("imaging", HELLO)
    assert reply.session == "s-1"


FUZZ = FuzzBudget(__name__, {"train_server_garbage": 150})
CLEAR = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
}


def test_hostile_requests_to_every_method_get_clear_statuses_and_the_server_stays_up(rig, engine):
    """Random bytes and mutated valid requests (real envelopes, real ciphertexts) sent to
    all 8 training methods of a real server: each is answered, with a clear status when
    refused (never INTERNAL or UNKNOWN), and a fresh party can join afterwards."""
    from vfl.crypto import ProductBudget
    from vfl.transport import serde
    from vfl.transport._wire import STEPS

    client = rig.client()
    key = engine.public_key.to_bytes()
    session = client.hello("imaging", Hello("imaging", "train", "paillier", 3, 10, "d", key))
    cts = engine.encrypt(np.zeros((3, 6)), 0, ProductBudget(2.0, 2.0, 8, mask_bits=0))
    valid = {
        "Hello": serde.hello_to_proto(Hello("imaging", "train", "paillier", 3, 10, "d", key)),
        "NextStep": train_pb2.NextStepRequest(session=session.session),
        "Weights": train_pb2.WeightsRequest(session=session.session, batch=1),
        "Forward": serde.forward_request_to_proto(ForwardRequest(1, projection=cts)),
        "Backward": train_pb2.BackwardRequest(session=session.session, batch=1),
        "BackwardFinish": train_pb2.BackwardFinishRequest(session=session.session, batch=1),
        "EpochSaved": train_pb2.EpochSavedRequest(session=session.session, epoch=1),
        "Abort": train_pb2.AbortRequest(session=session.session, kind="TowerError"),
    }
    wire = {}
    for method, msg in valid.items():
        msg.env.CopyFrom(client._seq.envelope("label", STEPS[method]))
        wire[method] = msg.SerializeToString()
    rig.service.block = None
    with grpc.insecure_channel(rig.address) as channel:

        @FUZZ.settings("train_server_garbage")
        @given(st.sampled_from(sorted(valid)), st.data())
        def one(method, data):
            FUZZ.count("train_server_garbage")
            raw = data.draw(corrupted(wire[method]))
            stub = channel.unary_unary(f"/vfl.train.Train/{method}")
            try:
                stub(raw, timeout=10)
            except grpc.RpcError as err:
                assert err.code() in CLEAR, (method, err.code(), err.details())
                assert err.details().strip()

        one()
    FUZZ.record("train_server_garbage")
    assert rig.client("genomics").hello("genomics", HELLO).session == "s-1"


def test_a_malformed_ciphertext_field_is_invalid_argument(rig, engine):
    client = rig.client()
    client.hello(
        "imaging",
        Hello("imaging", "train", "paillier", 3, 10, "d", public_key=engine.public_key.to_bytes()),
    )
    bad = train_pb2.ForwardRequest(session="s-1", batch=0)
    bad.projection.fingerprint = engine.public_key.fingerprint
    bad.projection.rows, bad.projection.cols, bad.projection.data = 2, 2, b"\x01" * 7
    bad.env.CopyFrom(client._seq.envelope("label", "train.forward"))

    with pytest.raises(grpc.RpcError) as info:
        raw_call(rig.address, "Forward", bad, train_pb2.Ack)

    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "projection" in info.value.details()
    assert rig.service.named("forward") == []


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_thousand_round_trips_do_not_grow_fds_or_the_reply_cache(rig):
    client = rig.client()
    session = client.hello("imaging", HELLO).session
    for epoch in range(50):  # warm up channels and thread pools
        client.epoch_saved("imaging", session, epoch)
    before = _open_fds()

    for epoch in range(1000):
        client.epoch_saved("imaging", session, epoch)

    assert _open_fds() <= before + 2
    assert len(rig.servicer._last) == 1  # one cached reply per party, not per call


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


THREE = ("imaging", "genomics", "clinical")


def _concurrently(parties, run, per_party):
    from concurrent import futures

    with futures.ThreadPoolExecutor(len(parties)) as pool:
        list(pool.map(run, parties, [per_party] * len(parties)))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize(
    ("parties", "per_party"), [(THREE[:2], 1000), (THREE, 1000)], ids=["2x1000", "3x1000"]
)
def test_soak_forward_round_trips_with_ciphertexts_without_growth(
    service, engine, parties, per_party
):
    """One label server, 2 or 3 parties calling at once: no growth of fds, memory or cache."""
    from vfl.crypto import ProductBudget

    rows = engine.encrypt(np.zeros((8, 3)), 0, ProductBudget(x_bound=1.0, a_bound=1.0, n_terms=4))
    key = engine.public_key.to_bytes()
    with GrpcRig(service, parties=parties, label_key=engine.public_key) as rig:
        clients = {p: rig.client(p) for p in parties}

        def run(party, n):
            c = clients[party]
            hello = Hello(party, "train", "paillier", 3, 10, "d", public_key=key)
            s = c.hello(party, hello).session
            for b in range(n):
                c.forward(party, s, ForwardRequest(b, projection=rows))

        _concurrently(parties, run, 100)  # warm up
        fds, rss = _open_fds(), _rss_bytes()
        service.calls.clear()
        _concurrently(parties, run, per_party)

        assert len(service.named("forward")) == len(parties) * per_party
        assert _open_fds() <= fds + 2
        assert _rss_bytes() - rss < 32 * 2**20
        assert len(rig.servicer._last) == len(parties)
