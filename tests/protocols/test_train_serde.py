"""Round trips and hostile input for the stage-2 codec (`vfl.transport.serde`).

Real Paillier ciphertexts (a 1024-bit test key, generated once per module) go through every
pair; random and mutated bytes must only ever give the codec's own errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fuzzing import FuzzBudget
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import train_pb2
from vfl.crypto import PaillierEngine, ProductBudget, generate_keypair
from vfl.errors import CiphertextError, KeyMismatchError, ProtocolViolationError, VflError
from vfl.protocol import (
    BackwardFinish,
    BackwardReply,
    ForwardRequest,
    Hello,
    HelloReply,
    LayerSpec,
    Step,
)
from vfl.transport import serde

BUDGET = ProductBudget(x_bound=4.0, a_bound=4.0, n_terms=8)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def keys():
    pk, sk = generate_keypair(1024)
    other, _ = generate_keypair(1024)
    with PaillierEngine(pk, sk, workers=1) as engine:
        yield engine, other


@pytest.fixture(scope="module")
def label(keys):
    """A second key pair: the label party's (the first is the feature party's)."""
    pk, sk = generate_keypair(1024)
    with PaillierEngine(pk, sk, workers=1) as engine:
        yield engine


def _encrypt(engine, rows=3, cols=2, axis=0, seed=0):
    x = np.random.default_rng(seed).uniform(-4, 4, (rows, cols))
    return x, engine.encrypt(x, axis, BUDGET)


def _same_packed(a, b):
    assert (a.shape, a.axis, a.budget, a.fingerprint) == (b.shape, b.axis, b.budget, b.fingerprint)
    assert (a.slots, a.slot_bound, a.ciphertext_bytes) == (
        b.slots,
        b.slot_bound,
        b.ciphertext_bytes,
    )
    assert [int(c) for c in a.ciphertexts] == [int(c) for c in b.ciphertexts]


def _wire(msg):
    """Through bytes, as on the wire."""
    return type(msg).FromString(msg.SerializeToString())


# ---- floats ----------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)


@given(st.integers(0, 5), st.integers(0, 5), st.data())
def test_float_matrix_round_trip(rows, cols, data):
    flat = data.draw(st.lists(finite, min_size=rows * cols, max_size=rows * cols))
    values = np.array(flat, dtype=np.float64).reshape(rows, cols)

    back = serde.float_matrix_from_proto(_wire(serde.float_matrix_to_proto(values)))

    np.testing.assert_array_equal(back, values)
    assert back.dtype == np.float64 and back.flags.writeable


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_float_matrix_refuses_non_finite(bad):
    m = serde.float_matrix_to_proto(np.array([[0.5, bad]]))
    with pytest.raises(ProtocolViolationError, match="NaN or infinite"):
        serde.float_matrix_from_proto(m)


def test_float_matrix_refuses_truncated_bytes():
    m = serde.float_matrix_to_proto(np.ones((2, 3)))
    m.data = m.data[:-1]
    with pytest.raises(ProtocolViolationError, match="float64"):
        serde.float_matrix_from_proto(m)


# ---- ciphertexts -----------------------------------------------------------------------------


@FAST
@given(rows=st.integers(1, 25), cols=st.integers(1, 3), axis=st.sampled_from([0, 1]))
def test_ciphertexts_round_trip_and_decrypt(keys, rows, cols, axis):
    engine, _ = keys
    _, packed = _encrypt(engine, rows, cols, axis)

    back = serde.ciphertexts_from_proto(
        _wire(serde.ciphertexts_to_proto(packed)), engine.public_key
    )

    _same_packed(back, packed)
    np.testing.assert_array_equal(engine.decrypt_ints(back), engine.decrypt_ints(packed))


def test_ciphertexts_are_fixed_width(keys):
    engine, _ = keys
    _, packed = _encrypt(engine, 40, 2, 0)
    m = serde.ciphertexts_to_proto(packed)
    width = engine.public_key.ciphertext_bytes
    assert len(m.data) == len(packed.ciphertexts) * width


def test_ciphertexts_under_another_key_are_refused(keys):
    engine, other = keys
    m = serde.ciphertexts_to_proto(_encrypt(engine)[1])
    with pytest.raises(KeyMismatchError, match="under another key"):
        serde.ciphertexts_from_proto(m, other)


def test_ciphertexts_without_a_known_key_are_a_protocol_violation(keys):
    m = serde.ciphertexts_to_proto(_encrypt(keys[0])[1])
    with pytest.raises(ProtocolViolationError, match="no public key"):
        serde.ciphertexts_from_proto(m, None)


def _tampered(engine, **change):
    m = serde.ciphertexts_to_proto(_encrypt(engine)[1])
    for name, value in change.items():
        setattr(m, name, value(m) if callable(value) else value)
    return m


@pytest.mark.parametrize(
    "change",
    [
        {"data": lambda m: m.data[:-1]},
        {"data": lambda m: m.data + b"\x00" * 256},
        {"data": lambda m: b"\x00" * len(m.data)},  # c = 0 is not in Z*_{n²}
        {"data": lambda m: b"\xff" * len(m.data)},  # c >= n²
        {"rows": 4_000_000_000},
        {"slots": 0},
        {"slots": 999},
        {"axis": 7},
        {"x_bound": math.nan},
        {"a_bound": -1.0},
        {"n_terms": 0},
        {"mask_bits": 3},
        {"mask_bits": 39},
        {"x_frac_bits": 4_000_000},
        {"slot_bound": b"\xff" * 64},
        {"slot_bound": b"\x01" * (serde.MAX_INT_BYTES + 1)},
    ],
    ids=lambda c: next(iter(c)),
)
def test_tampered_ciphertexts_are_clear_errors(keys, change):
    engine, _ = keys
    with pytest.raises(CiphertextError):
        serde.ciphertexts_from_proto(_tampered(engine, **change), engine.public_key)


# ---- session messages ------------------------------------------------------------------------

hellos = st.builds(
    Hello,
    party=st.just("imaging"),
    mode=st.sampled_from(["train", "predict"]),
    protection=st.sampled_from(["paillier", "plaintext"]),
    in_dim=st.integers(1, 2**31),
    n_rows=st.integers(0, 2**62),
    alignment_digest=st.text(max_size=64),
    public_key=st.binary(max_size=300),
    checkpoint_epochs=st.lists(st.integers(0, 10_000), max_size=5).map(tuple),
    initial_share=st.none()
    | st.lists(finite, min_size=6, max_size=6).map(lambda v: np.array(v).reshape(2, 3)),
    model_id=st.text(max_size=40),
)


@given(hellos)
def test_hello_round_trip(msg):
    back = serde.hello_from_proto(_wire(serde.hello_to_proto(msg)), "imaging")
    if msg.initial_share is None:
        assert back.initial_share is None
    else:
        np.testing.assert_array_equal(back.initial_share, msg.initial_share)
    assert back.__dict__ | {"initial_share": None} == msg.__dict__ | {"initial_share": None}


@pytest.mark.parametrize("field, value", [("mode", 0), ("mode", 9), ("protection", 0)])
def test_hello_with_unknown_enum_is_refused(field, value):
    m = serde.hello_to_proto(Hello("a", "train", "paillier", 4, 10, "d"))
    setattr(m, field, value)
    with pytest.raises(ProtocolViolationError, match="unknown"):
        serde.hello_from_proto(m, "a")


specs = st.builds(
    LayerSpec,
    in_dim=st.integers(1, 4096),
    out_dim=st.integers(1, 4096),
    batch_size=st.integers(1, 2**20),
    alpha_bound=st.floats(1e-3, 1e6),
    weight_bound=st.floats(1e-3, 1e6),
    grad_bound=st.floats(1e-3, 1e6),
    frac_bits=st.integers(0, 52),
    lr=st.floats(1e-9, 10.0),
)


@given(
    st.builds(
        HelloReply,
        session=st.text(min_size=1, max_size=40),
        spec=specs,
        start_epoch=st.integers(0, 1000),
        epochs=st.integers(0, 1000),
        model_id=st.text(max_size=40),
        public_key=st.binary(max_size=300),
    )
)
def test_hello_reply_round_trip(reply):
    assert serde.hello_reply_from_proto(_wire(serde.hello_reply_to_proto(reply))) == reply


def test_hello_reply_without_session_or_with_bad_spec_is_refused():
    good = serde.hello_reply_to_proto(HelloReply("s", LayerSpec(4, 4, 8), 0, 3))
    no_session = train_pb2.HelloReply(spec=good.spec)
    with pytest.raises(ProtocolViolationError, match="session"):
        serde.hello_reply_from_proto(no_session)
    for name, value in [("in_dim", 0), ("lr", math.nan), ("grad_bound", -1.0)]:
        bad = train_pb2.HelloReply()
        bad.CopyFrom(good)
        setattr(bad.spec, name, value)
        with pytest.raises(ProtocolViolationError, match="layer spec"):
            serde.hello_reply_from_proto(bad)


@given(
    st.builds(
        Step,
        kind=st.sampled_from(["train", "eval", "predict", "epoch_end", "done"]),
        epoch=st.integers(0, 2**31),
        batch=st.integers(0, 2**40),
        positions=st.lists(st.integers(0, 2**63 - 1), max_size=300).map(
            lambda v: np.array(v, dtype=np.int64)
        ),
    )
)
def test_step_round_trip(step):
    back = serde.step_from_proto(_wire(serde.step_to_proto(step)))
    assert (back.kind, back.epoch, back.batch) == (step.kind, step.epoch, step.batch)
    assert back.positions.dtype == np.int64
    np.testing.assert_array_equal(back.positions, step.positions)


def test_step_with_bad_positions_or_kind_is_refused():
    with pytest.raises(ProtocolViolationError, match="non-negative"):
        serde.step_to_proto(Step("train", positions=np.array([3, -1])))
    with pytest.raises(ProtocolViolationError, match="out of range"):
        serde.step_from_proto(train_pb2.Step(kind=train_pb2.STEP_TRAIN, positions=[2**63]))
    with pytest.raises(ProtocolViolationError, match="unknown step kind"):
        serde.step_from_proto(train_pb2.Step(kind=17))


# ---- protocol messages -----------------------------------------------------------------------


def test_weights_reply_round_trip(label):
    _, w = _encrypt(label, 4, 3, 1)
    back = serde.weights_reply_from_proto(
        _wire(serde.weights_reply_to_proto(9, w)), label.public_key
    )
    _same_packed(back, w)
    assert serde.weights_reply_from_proto(serde.weights_reply_to_proto(9, None), None) is None


def test_forward_request_round_trip_protected_and_plain(keys, label):
    engine, _ = keys
    x, share = _encrypt(engine, 5, 3, 0)
    _, projection = _encrypt(label, 3, 5, 0, seed=1)
    msg = ForwardRequest(batch=7, projection=projection, noise_share=share)

    back = serde.forward_request_from_proto(
        _wire(serde.forward_request_to_proto(msg)), label.public_key, engine.public_key
    )

    assert back.batch == 7 and back.alpha_plain is None
    _same_packed(back.projection, projection)
    _same_packed(back.noise_share, share)
    plain = ForwardRequest(batch=2, alpha_plain=x)
    back = serde.forward_request_from_proto(
        _wire(serde.forward_request_to_proto(plain)), None, None
    )
    np.testing.assert_array_equal(back.alpha_plain, x)
    assert back.projection is None and back.noise_share is None


def test_each_field_is_checked_under_its_own_key(keys, label):
    engine, _ = keys
    _, share = _encrypt(engine, 5, 3, 0)
    _, projection = _encrypt(label, 3, 5, 0, seed=1)
    swapped = serde.forward_request_to_proto(
        ForwardRequest(batch=1, projection=share, noise_share=projection)
    )
    with pytest.raises(KeyMismatchError):
        serde.forward_request_from_proto(swapped, label.public_key, engine.public_key)
    reply = serde.backward_reply_to_proto(BackwardReply(1, delta=share, grad_input=projection))
    with pytest.raises(KeyMismatchError):
        serde.backward_reply_from_proto(reply, label.public_key, engine.public_key)
    fin = serde.backward_finish_to_proto(BackwardFinish(1, share))
    with pytest.raises(KeyMismatchError):
        serde.backward_finish_from_proto(fin, label.public_key)


def test_backward_messages_round_trip(keys, label):
    engine, _ = keys
    _, delta = _encrypt(label, 4, 2, 1)
    _, grad_input = _encrypt(engine, 2, 4, 0, seed=2)
    br = serde.backward_reply_from_proto(
        _wire(serde.backward_reply_to_proto(BackwardReply(5, delta, grad_input))),
        label.public_key,
        engine.public_key,
    )
    assert br.batch == 5
    _same_packed(br.delta, delta)
    _same_packed(br.grad_input, grad_input)
    g = np.arange(6.0).reshape(3, 2)
    br = serde.backward_reply_from_proto(
        serde.backward_reply_to_proto(BackwardReply(6, grad_alpha_plain=g)), None, None
    )
    np.testing.assert_array_equal(br.grad_alpha_plain, g)
    assert br.delta is None and br.grad_input is None

    fin = serde.backward_finish_from_proto(
        _wire(serde.backward_finish_to_proto(BackwardFinish(8, delta))), label.public_key
    )
    assert fin is not None and fin.batch == 8
    _same_packed(fin.grad_weight, delta)
    assert (
        serde.backward_finish_from_proto(_wire(serde.backward_finish_to_proto(None)), None) is None
    )


# ---- hostile bytes ---------------------------------------------------------------------------


def _decoders(party_key, label_key):
    return {
        train_pb2.HelloRequest: lambda m: serde.hello_from_proto(m, "p"),
        train_pb2.HelloReply: serde.hello_reply_from_proto,
        train_pb2.Step: serde.step_from_proto,
        train_pb2.WeightsReply: lambda m: serde.weights_reply_from_proto(m, label_key),
        train_pb2.ForwardRequest: lambda m: serde.forward_request_from_proto(
            m, label_key, party_key
        ),
        train_pb2.BackwardReply: lambda m: serde.backward_reply_from_proto(m, label_key, party_key),
        train_pb2.BackwardFinishRequest: lambda m: serde.backward_finish_from_proto(m, label_key),
    }


def _decode_or_clear_error(cls, data, decode):
    """Parse + decode: the only acceptable failures are DecodeError and the codec's errors."""
    try:
        msg = cls.FromString(data)
    except DecodeError:
        return
    try:
        decode(msg)
    except VflError:
        pass


FUZZ = FuzzBudget(__name__, {"train_random_bytes": 350, "train_mutated_messages": 200})


def test_random_bytes_give_only_clear_errors(keys, label):
    decoders = list(_decoders(keys[0].public_key, label.public_key).items())

    @FUZZ.settings("train_random_bytes")
    @given(st.binary(max_size=400), st.integers(0, len(decoders) - 1))
    def one(data, which):
        FUZZ.count("train_random_bytes")
        cls, decode = decoders[which]
        _decode_or_clear_error(cls, data, decode)

    one()
    FUZZ.record("train_random_bytes")


@pytest.fixture(scope="module")
def valid_wire(keys, label):
    engine, _ = keys
    x, share = _encrypt(engine, 5, 3, 0)
    _, projection = _encrypt(label, 3, 5, 1, seed=1)
    return [
        (
            train_pb2.ForwardRequest,
            serde.forward_request_to_proto(
                ForwardRequest(1, projection=projection, noise_share=share, alpha_plain=x)
            ),
        ),
        (
            train_pb2.BackwardReply,
            serde.backward_reply_to_proto(BackwardReply(1, projection, share, x)),
        ),
        (
            train_pb2.BackwardFinishRequest,
            serde.backward_finish_to_proto(BackwardFinish(1, projection)),
        ),
        (train_pb2.WeightsReply, serde.weights_reply_to_proto(1, projection)),
        (
            train_pb2.HelloRequest,
            serde.hello_to_proto(Hello("p", "train", "plaintext", 3, 9, "d", initial_share=x)),
        ),
        (train_pb2.Step, serde.step_to_proto(Step("train", 1, 2, np.arange(10)))),
    ]


def test_mutated_messages_give_only_clear_errors(keys, label, valid_wire):
    @FUZZ.settings("train_mutated_messages")
    @given(st.data())
    def one(data):
        FUZZ.count("train_mutated_messages")
        _mutate_and_decode(keys, label, valid_wire, data)

    one()
    FUZZ.record("train_mutated_messages")


def _mutate_and_decode(keys, label, valid_wire, data):
    cls, msg = data.draw(st.sampled_from(valid_wire))
    raw = bytearray(msg.SerializeToString())
    cut = data.draw(st.integers(0, len(raw)))
    mode = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    if mode == "truncate":
        raw = raw[:cut]
    elif mode == "flip" and raw:
        raw[min(cut, len(raw) - 1)] ^= data.draw(st.integers(1, 255))
    else:
        raw[cut:cut] = data.draw(st.binary(min_size=1, max_size=16))
    decoders = _decoders(keys[0].public_key, label.public_key)
    _decode_or_clear_error(cls, bytes(raw), decoders[cls])
