"""Round trips and hostile input for the stage-2 codec (`vfl.transport.serde`).

Real Paillier ciphertexts (a 1024-bit test key, generated once per module) go through every
pair; random and mutated bytes must only ever give the codec's own errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import train_pb2
from vfl.crypto import PaillierEngine, ProductBudget, generate_keypair
from vfl.errors import CiphertextError, KeyMismatchError, ProtocolViolationError, VflError
from vfl.protocol import (
    BackwardFinish,
    BackwardReply,
    ForwardFinish,
    ForwardReply,
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


# ---- exact integers --------------------------------------------------------------------------

big_ints = st.integers(min_value=-(2**700), max_value=2**700)


@given(
    st.integers(0, 4).flatmap(
        lambda r: st.integers(0, 4).flatmap(
            lambda c: st.lists(big_ints, min_size=r * c, max_size=r * c).map(lambda v: (r, c, v))
        )
    )
)
def test_int_matrix_round_trip_at_one_fixed_width(case):
    rows, cols, flat = case
    values = np.empty(rows * cols, dtype=object)
    values[:] = flat
    values = values.reshape(rows, cols)

    m = _wire(serde.int_matrix_to_proto(values))
    back = serde.int_matrix_from_proto(m)

    assert back.shape == (rows, cols)
    assert [int(v) for v in back.ravel()] == flat
    need = max(((abs(v) if v >= 0 else ~v).bit_length() + 8) // 8 for v in flat) if flat else 1
    assert m.width == need and len(m.data) == rows * cols * m.width


def test_int_matrix_width_is_per_tensor_not_per_value():
    small_and_big = np.array([[1, 2**200], [-3, 0]], dtype=object)
    m = serde.int_matrix_to_proto(small_and_big)
    assert len(m.data) == 4 * m.width and m.width == 26


@pytest.mark.parametrize(
    "rows, cols, width, n_bytes",
    [
        (2, 2, 0, 0),
        (2, 2, serde.MAX_INT_BYTES + 1, 4 * (serde.MAX_INT_BYTES + 1)),
        (2, 2, 3, 11),
        (2, 2, 3, 13),
        (4_000_000_000, 4_000_000_000, 1, 16),
    ],
)
def test_int_matrix_with_wrong_sizes_is_refused(rows, cols, width, n_bytes):
    m = train_pb2.IntMatrix(rows=rows, cols=cols, width=width, data=b"\x01" * n_bytes)
    with pytest.raises(ProtocolViolationError):
        serde.int_matrix_from_proto(m)


def test_int_matrix_encoder_refuses_non_matrices_and_giants():
    with pytest.raises(ProtocolViolationError, match="2-D"):
        serde.int_matrix_to_proto(np.array([1, 2], dtype=object))
    with pytest.raises(ProtocolViolationError, match="bytes"):
        serde.int_matrix_to_proto(np.array([[2 ** (8 * serde.MAX_INT_BYTES)]], dtype=object))


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
    mask_bits=st.integers(40, 128),
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


def test_forward_request_round_trip_protected_and_plain(keys):
    engine, _ = keys
    x, rows = _encrypt(engine, 5, 3, 0)
    _, cols = _encrypt(engine, 5, 3, 1, seed=1)
    msg = ForwardRequest(batch=7, alpha_rows=rows, alpha_cols=cols)

    back = serde.forward_request_from_proto(
        _wire(serde.forward_request_to_proto(msg)), engine.public_key
    )

    assert back.batch == 7 and back.noise_share is None and back.alpha_plain is None
    _same_packed(back.alpha_rows, rows)
    _same_packed(back.alpha_cols, cols)
    plain = ForwardRequest(batch=2, alpha_plain=x)
    back = serde.forward_request_from_proto(_wire(serde.forward_request_to_proto(plain)), None)
    np.testing.assert_array_equal(back.alpha_plain, x)
    assert back.alpha_rows is None


def test_forward_reply_and_backward_reply_round_trip(keys):
    engine, _ = keys
    _, a = _encrypt(engine, 4, 2, 0)
    _, b = _encrypt(engine, 2, 4, 1, seed=2)
    fr = serde.forward_reply_from_proto(
        _wire(serde.forward_reply_to_proto(ForwardReply(3, a))), engine.public_key
    )
    assert fr.batch == 3
    _same_packed(fr.masked, a)
    assert serde.forward_reply_from_proto(
        serde.forward_reply_to_proto(ForwardReply(4)), None
    ) == ForwardReply(4)

    br = serde.backward_reply_from_proto(
        _wire(serde.backward_reply_to_proto(BackwardReply(5, grad_weight=a, grad_input=b))),
        engine.public_key,
    )
    _same_packed(br.grad_weight, a)
    _same_packed(br.grad_input, b)
    g = np.arange(6.0).reshape(3, 2)
    br = serde.backward_reply_from_proto(
        serde.backward_reply_to_proto(BackwardReply(6, grad_alpha_plain=g)), None
    )
    np.testing.assert_array_equal(br.grad_alpha_plain, g)
    assert br.grad_weight is None and br.grad_input is None


@given(st.integers(0, 2**40), st.lists(big_ints, min_size=6, max_size=6))
def test_finishes_round_trip(batch, flat):
    values = np.empty(6, dtype=object)
    values[:] = flat
    values = values.reshape(2, 3)
    for msg, enc, dec in [
        (
            ForwardFinish(batch, values),
            serde.forward_finish_to_proto,
            serde.forward_finish_from_proto,
        ),
        (
            BackwardFinish(batch, values),
            serde.backward_finish_to_proto,
            serde.backward_finish_from_proto,
        ),
    ]:
        back = dec(_wire(enc(msg)))
        assert type(back) is type(msg) and back.batch == batch
        assert back.values.tolist() == values.tolist()
        assert dec(_wire(enc(None))) is None


# ---- hostile bytes ---------------------------------------------------------------------------


def _decoders(public_key):
    return {
        train_pb2.HelloRequest: lambda m: serde.hello_from_proto(m, "p"),
        train_pb2.HelloReply: serde.hello_reply_from_proto,
        train_pb2.Step: serde.step_from_proto,
        train_pb2.ForwardRequest: lambda m: serde.forward_request_from_proto(m, public_key),
        train_pb2.ForwardReply: lambda m: serde.forward_reply_from_proto(m, public_key),
        train_pb2.ForwardFinishRequest: serde.forward_finish_from_proto,
        train_pb2.BackwardReply: lambda m: serde.backward_reply_from_proto(m, public_key),
        train_pb2.BackwardFinishRequest: serde.backward_finish_from_proto,
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


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 7))
def test_random_bytes_give_only_clear_errors(keys, data, which):
    cls, decode = list(_decoders(keys[0].public_key).items())[which]
    _decode_or_clear_error(cls, data, decode)


@pytest.fixture(scope="module")
def valid_wire(keys):
    engine, _ = keys
    x, rows = _encrypt(engine, 5, 3, 0)
    _, cols = _encrypt(engine, 5, 3, 1, seed=1)
    fin = np.array([[1, -(2**90)], [2**80, 0]], dtype=object)
    return [
        (
            train_pb2.ForwardRequest,
            serde.forward_request_to_proto(
                ForwardRequest(1, alpha_rows=rows, alpha_cols=cols, alpha_plain=x)
            ),
        ),
        (train_pb2.BackwardReply, serde.backward_reply_to_proto(BackwardReply(1, rows, cols, x))),
        (train_pb2.ForwardFinishRequest, serde.forward_finish_to_proto(ForwardFinish(1, fin))),
        (
            train_pb2.HelloRequest,
            serde.hello_to_proto(Hello("p", "train", "plaintext", 3, 9, "d", initial_share=x)),
        ),
        (train_pb2.Step, serde.step_to_proto(Step("train", 1, 2, np.arange(10)))),
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_messages_give_only_clear_errors(keys, valid_wire, data):
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
    _decode_or_clear_error(cls, bytes(raw), _decoders(keys[0].public_key)[cls])
