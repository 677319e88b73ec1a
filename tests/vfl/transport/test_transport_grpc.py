"""The training transport over real gRPC on loopback, with real Paillier ciphertexts."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import replace

import grpc
import numpy as np
import pytest
from transport_fakes import RUN, SPEC, FakeService, GrpcRig, free_port, raw_call

from protocols import common_pb2, train_pb2
from psi import net
from vfl.crypto import ProductBudget
from vfl.errors import (
    KeyMismatchError,
    PeerRefusedError,
    PeerTimeoutError,
    PeerUnreachableError,
    ProtocolViolationError,
    TrainingError,
)
from vfl.protocol import BackwardFinish, ForwardRequest, Hello, SessionChangedError
from vfl.transport import Deadlines, GrpcTrainClient, add_train_service
from vfl.transport._wire import TRAIN_PROTOCOL_VERSION
from vfl.transport.grpc_server import TrainServicer

BUDGET = ProductBudget(x_bound=2.0, a_bound=2.0, n_terms=8)


def _hello(engine=None, protection="paillier", share=None):
    key = engine.public_key.to_bytes() if engine is not None else b""
    return Hello(
        party="imaging",
        mode="train",
        protection=protection,
        in_dim=3,
        n_rows=100,
        alignment_digest="ab12",
        public_key=key,
        checkpoint_epochs=(1, 2),
        initial_share=share,
    )


def _cts(engine, alpha):
    return engine.encrypt(alpha, 0, BUDGET), engine.encrypt(alpha, 1, BUDGET)


def test_every_call_round_trips_with_real_ciphertexts(rig, engine, alpha):
    client = rig.client()
    rows, cols = _cts(engine, alpha)
    rig.service.weights_reply = cols

    hello = client.hello("imaging", _hello(engine))
    step = client.next_step("imaging", hello.session)
    weights = client.weights("imaging", hello.session, 3)
    client.forward("imaging", hello.session, ForwardRequest(3, rows, cols))
    bwd = client.backward("imaging", hello.session, 3)
    client.backward_finish("imaging", hello.session, BackwardFinish(3, rows))
    client.epoch_saved("imaging", hello.session, 1)
    client.abort("imaging", hello.session, "TowerError")

    assert hello.spec == SPEC and hello.session == "s-1" and hello.epochs == 2
    assert (step.kind, step.epoch, step.batch) == ("train", 1, 4)
    assert step.positions.tolist() == [5, 0, 2**40, 7]
    sent = rig.service.named("hello")[0][2]
    assert sent.party == "imaging" and sent.public_key == engine.public_key.to_bytes()
    assert sent.checkpoint_epochs == (1, 2)
    assert hello.public_key == engine.public_key.to_bytes()
    assert rig.service.named("weights") == [("weights", "imaging", 3)]
    np.testing.assert_array_equal(engine.decrypt_ints(weights), engine.decrypt_ints(cols))
    got = rig.service.named("forward")[0][2]
    assert [int(c) for c in got.projection.ciphertexts] == [int(c) for c in rows.ciphertexts]
    assert [int(c) for c in got.noise_share.ciphertexts] == [int(c) for c in cols.ciphertexts]
    assert bwd.batch == 3
    np.testing.assert_array_equal(engine.decrypt_ints(bwd.delta), engine.decrypt_ints(rows))
    np.testing.assert_array_equal(engine.decrypt_ints(bwd.grad_input), engine.decrypt_ints(cols))
    fin = rig.service.named("backward_finish")[0][2]
    assert fin.batch == 3
    np.testing.assert_array_equal(engine.decrypt_ints(fin.grad_weight), engine.decrypt_ints(rows))
    assert rig.service.named("epoch_saved") == [("epoch_saved", "imaging", 1)]
    assert rig.service.named("abort") == [("abort", "imaging", "TowerError")]


def test_plaintext_mode_round_trips(rig, alpha):
    client = rig.client()
    share = np.full((3, 2), 0.25)

    hello = client.hello("imaging", _hello(protection="plaintext", share=share))
    client.forward("imaging", hello.session, ForwardRequest(0, alpha_plain=alpha))
    bwd = client.backward("imaging", hello.session, 0)
    client.backward_finish("imaging", hello.session, None)

    np.testing.assert_array_equal(rig.service.named("hello")[0][2].initial_share, share)
    assert hello.public_key == b""
    np.testing.assert_array_equal(bwd.grad_alpha_plain, alpha * 2)
    assert bwd.delta is None and bwd.grad_input is None
    assert rig.service.named("backward_finish")[0][2] is None


def test_session_changed_error_crosses_the_wire(rig):
    client = rig.client()
    client.hello("imaging", _hello())
    with pytest.raises(SessionChangedError, match=rig.address):
        client.next_step("imaging", "stale-session")


def test_wrong_run_is_refused(rig):
    client = rig.client(run_id="other-run")
    with pytest.raises(PeerRefusedError, match="wrong run ID"):
        client.hello("imaging", _hello())
    assert rig.service.calls == []


def test_unknown_party_is_refused(rig):
    client = rig.client(me="stranger")
    with pytest.raises(PeerRefusedError, match="unknown party 'stranger'"):
        client.hello("stranger", _hello())
    assert rig.service.calls == []


def test_client_speaks_only_for_its_own_party(rig):
    client = rig.client()
    with pytest.raises(ProtocolViolationError, match="speaks for 'imaging'"):
        client.epoch_saved("genomics", "s-1", 1)
    assert rig.service.calls == []


def _request(seq, *, session="s-1", epoch=1, **env):
    fields = (
        dict(
            run_id=RUN,
            sender="imaging",
            recipient="label",
            seq=seq,
            step="train.epoch_saved",
            protocol_version=TRAIN_PROTOCOL_VERSION,
        )
        | env
    )
    return train_pb2.EpochSavedRequest(
        env=common_pb2.Envelope(**fields), session=session, epoch=epoch
    )


def _refused(rig, request):
    with pytest.raises(grpc.RpcError) as info:
        raw_call(rig.address, "EpochSaved", request, train_pb2.Ack)
    return info.value


def test_replayed_and_reordered_sequence_numbers_are_refused(rig):
    raw_call(rig.address, "EpochSaved", _request(100), train_pb2.Ack)
    raw_call(rig.address, "EpochSaved", _request(105, epoch=2), train_pb2.Ack)

    replay = _refused(rig, _request(100))
    reorder = _refused(rig, _request(103, epoch=3))
    same_seq_other_content = _refused(rig, _request(105, epoch=9))

    for err in (replay, reorder, same_seq_other_content):
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "replayed or out-of-order" in err.details()
    assert [c[2] for c in rig.service.named("epoch_saved")] == [1, 2]


def test_identical_retry_is_answered_from_the_cache_without_running_twice(rig):
    first = raw_call(rig.address, "EpochSaved", _request(200), train_pb2.Ack)
    again = raw_call(rig.address, "EpochSaved", _request(200), train_pb2.Ack)

    assert again == first
    assert len(rig.service.named("epoch_saved")) == 1


@pytest.mark.parametrize(
    "env, code, text",
    [
        ({"recipient": "genomics"}, grpc.StatusCode.FAILED_PRECONDITION, "addressed to"),
        ({"step": "train.forward"}, grpc.StatusCode.INVALID_ARGUMENT, "sent to the"),
        ({"protocol_version": 1}, grpc.StatusCode.FAILED_PRECONDITION, "version 1"),
        ({"run_id": "x"}, grpc.StatusCode.FAILED_PRECONDITION, "wrong run ID"),
    ],
)
def test_misaddressed_envelopes_are_refused(rig, env, code, text):
    err = _refused(rig, _request(300, **env))
    assert err.code() == code and text in err.details()
    assert rig.service.calls == []


def test_ciphertexts_under_another_key_are_refused_as_key_mismatch(rig, engine, other_key, alpha):
    client = rig.client()
    hello = client.hello("imaging", _hello(engine))
    foreign = ForwardRequest(0, noise_share=_cts(engine, alpha)[0])
    # The server checks against the key announced at hello; announce another one.
    client.hello("imaging", replace(_hello(engine), public_key=other_key.to_bytes()))
    with pytest.raises(KeyMismatchError, match="under another key"):
        client.forward("imaging", hello.session, foreign)
    assert rig.service.named("forward") == []


def test_service_crash_is_a_training_error_without_internals(rig):
    rig.service.explode = True
    client = rig.client()
    client.hello("imaging", _hello(protection="plaintext"))
    with pytest.raises(TrainingError, match="internal error at the label party") as info:
        client.forward("imaging", "s-1", ForwardRequest(0, alpha_plain=np.zeros((1, 3))))
    assert "secret internal detail" not in str(info.value)


def test_server_down_is_unreachable_naming_the_address_within_the_timeout():
    address = f"127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(PeerUnreachableError, match=address):
        GrpcTrainClient.connect(address, None, connect_timeout_s=0.5, run_id=RUN, me="imaging")
    assert time.monotonic() - t0 < 3

    channel = net.make_channel(address, None, server_name="label")
    client = GrpcTrainClient(
        channel,
        address=address,
        run_id=RUN,
        me="imaging",
        deadlines=Deadlines(call_s=1, blocking_s=1, retries=1),
    )
    t0 = time.monotonic()
    with pytest.raises(PeerUnreachableError, match=address):
        client.hello("imaging", _hello())
    assert time.monotonic() - t0 < 5
    client.close()


def test_slow_label_party_is_a_timeout_naming_the_address(rig):
    gate = rig.service.block = threading.Event()
    client = rig.client(deadlines=Deadlines(call_s=5, blocking_s=0.3, retries=0))
    client.hello("imaging", _hello())
    try:
        with pytest.raises(PeerTimeoutError, match=rig.address):
            client.next_step("imaging", "s-1")
    finally:
        gate.set()


class DropFirstReply(grpc.ServerInterceptor):
    """Runs the call, then loses the reply once (UNAVAILABLE), as a broken connection would."""

    def __init__(self, method):
        self.method, self.dropped = method, 0

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or not details.method.endswith("/" + self.method):
            return handler
        inner = handler.unary_unary

        def behaviour(request, context):
            reply = inner(request, context)
            if self.dropped == 0:
                self.dropped += 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "reply lost (test)")
            return reply

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def test_retry_after_a_lost_reply_returns_the_cached_reply(engine, alpha):
    drop = DropFirstReply("Forward")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[drop])
    port = server.add_insecure_port("127.0.0.1:0")
    service = FakeService()
    with GrpcRig(service, server=(server, port), label_key=engine.public_key) as rig:
        client = rig.client()
        hello = client.hello("imaging", _hello(engine))
        rows = _cts(engine, alpha)[0]

        client.forward("imaging", hello.session, ForwardRequest(1, projection=rows))

    assert drop.dropped == 1
    assert len(service.named("forward")) == 1  # the retry did not run forward again
    got = service.named("forward")[0][2].projection
    np.testing.assert_array_equal(engine.decrypt_ints(got), engine.decrypt_ints(rows))


class Recorder:
    def __init__(self):
        self.seen = []

    def on_message(self, *, direction, peer, step, seq, payload):
        self.seen.append((direction, peer, step, seq, len(payload)))


def test_every_message_passes_the_observers(engine, alpha):
    server_obs, client_obs = Recorder(), Recorder()
    with GrpcRig(FakeService(), observer=server_obs, label_key=engine.public_key) as rig:
        client = rig.client(observer=client_obs)
        hello = client.hello("imaging", _hello(engine))
        client.forward(
            "imaging", hello.session, ForwardRequest(0, projection=_cts(engine, alpha)[0])
        )

    assert [(d, p, s) for d, p, s, _, _ in client_obs.seen] == [
        ("send", "label", "train.hello"),
        ("recv", "label", "train.hello"),
        ("send", "label", "train.forward"),
        ("recv", "label", "train.forward"),
    ]
    assert [(d, p, s) for d, p, s, _, _ in server_obs.seen] == [
        ("recv", "imaging", "train.hello"),
        ("send", "imaging", "train.hello"),
        ("recv", "imaging", "train.forward"),
        ("send", "imaging", "train.forward"),
    ]
    sent_seqs = [seq for d, *_, seq, _ in client_obs.seen if d == "send"]
    assert sent_seqs[1] == sent_seqs[0] + 1
    assert client_obs.seen[2][4] > 2 * engine.public_key.ciphertext_bytes  # ciphertexts inside


def test_a_restarted_feature_party_numbers_above_its_old_self(rig):
    old = rig.client()
    old.hello("imaging", _hello())
    old.close()
    new = rig.client()  # a fresh client (process restart): its counter starts from the clock

    new.hello("imaging", _hello())

    assert len(rig.service.named("hello")) == 2


def _join_and_forward(client, party, hello, rows):
    session = client.hello(party, hello).session
    return client.forward(party, session, ForwardRequest(0, projection=rows))


def test_two_parties_at_once(rig, engine, alpha):
    a, b = rig.client("imaging"), rig.client("genomics")
    rows = _cts(engine, alpha)[0]
    with futures.ThreadPoolExecutor(2) as pool:
        jobs = [
            pool.submit(_join_and_forward, c, p, replace(_hello(engine), party=p), rows)
            for c, p in ((a, "imaging"), (b, "genomics"))
        ]
        for job in jobs:
            job.result(timeout=30)
    assert sorted(p for _, p, _ in rig.service.named("forward")) == ["genomics", "imaging"]


def test_add_train_service_returns_the_servicer(service):
    server, _ = net.make_server("127.0.0.1:0", None)
    try:
        assert isinstance(
            add_train_service(server, service, run_id=RUN, me="label", parties=["imaging"]),
            TrainServicer,
        )
    finally:
        server.stop(grace=None)


def test_each_refusal_is_logged_with_party_method_and_reason(rig, caplog):
    caplog.set_level("WARNING", logger="vfl.transport.grpc_server")
    client = rig.client(me="stranger")
    with pytest.raises(PeerRefusedError):
        client.hello("stranger", _hello())
    (record,) = [r for r in caplog.records if r.name == "vfl.transport.grpc_server"]
    assert "Hello" in record.getMessage() and "unknown party" in record.getMessage()
    assert "stranger" in record.getMessage()


def test_a_retry_while_the_original_still_runs_waits_for_it(rig):
    gate = rig.service.block = threading.Event()
    env = common_pb2.Envelope(
        run_id=RUN,
        sender="imaging",
        recipient="label",
        seq=500,
        step="train.next_step",
        protocol_version=TRAIN_PROTOCOL_VERSION,
    )
    request = train_pb2.NextStepRequest(env=env, session="s-1")
    with futures.ThreadPoolExecutor(2) as pool:
        original = pool.submit(raw_call, rig.address, "NextStep", request, train_pb2.StepReply)
        assert rig.service.entered.wait(timeout=10)
        retry = pool.submit(raw_call, rig.address, "NextStep", request, train_pb2.StepReply)
        time.sleep(0.1)
        assert not retry.done()  # waiting on the original, not running next_step again
        gate.set()
        assert original.result(timeout=10) == retry.result(timeout=10)
    assert len(rig.service.named("next_step")) == 1
