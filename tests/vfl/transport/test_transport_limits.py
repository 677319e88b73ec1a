"""Message sizes, hostile bytes and many round trips against one real gRPC server."""

from __future__ import annotations

import os

import grpc
import numpy as np
import pytest
from transport_fakes import GrpcRig, raw_call

from protocols import train_pb2
from vfl.protocol import ForwardRequest, Hello

HELLO = Hello("imaging", "train", "plaintext", 3, 10, "d")


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
