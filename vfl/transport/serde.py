"""Conversion between the protocol's Python messages and `protocols.train_pb2`, in one place.

Symmetric `x_to_proto` / `x_from_proto` pairs, one per message. Encoders leave the envelope
and the session token empty: the transport stamps them. Decoders check structure (known enum
values, byte counts for declared shapes, finite floats, ciphertexts in range under the key
holder's public key) and raise `ProtocolViolationError`, `CiphertextError` or
`KeyMismatchError`; the protocol state machines check the semantics (shapes against the layer
spec, batch numbers, order of steps).

Ciphertexts are under one of two keys, fixed per field: [[W̃]], [[δ]], the projection and
the weight gradient under the label party's key (sent in the hello reply); [[E]] and the
input gradient under the feature party's key (sent in its hello). Decoders take both keys
and check each field under its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

import numpy as np
from google.protobuf.message import Message

from protocols import train_pb2
from vfl.crypto import PackedMatrix, PublicKey
from vfl.errors import ProtocolViolationError
from vfl.protocol.messages import BackwardFinish, BackwardReply, ForwardRequest
from vfl.protocol.session import Hello, HelloReply, Mode, Protection, Step, StepKind
from vfl.protocol.spec import LayerSpec
from vfl.transport._tensors import (
    MAX_INT_BYTES,
    ciphertexts_from_proto,
    ciphertexts_to_proto,
    float_matrix_from_proto,
    float_matrix_to_proto,
)

__all__ = [
    "MAX_INT_BYTES",
    "backward_finish_from_proto",
    "backward_finish_to_proto",
    "backward_reply_from_proto",
    "backward_reply_to_proto",
    "ciphertexts_from_proto",
    "ciphertexts_to_proto",
    "float_matrix_from_proto",
    "float_matrix_to_proto",
    "forward_request_from_proto",
    "forward_request_to_proto",
    "hello_from_proto",
    "hello_reply_from_proto",
    "hello_reply_to_proto",
    "hello_to_proto",
    "spec_from_proto",
    "spec_to_proto",
    "step_from_proto",
    "step_to_proto",
    "weights_reply_from_proto",
    "weights_reply_to_proto",
]

_MODES: dict[Mode, train_pb2.Mode] = {
    "train": train_pb2.MODE_TRAIN,
    "predict": train_pb2.MODE_PREDICT,
}
_PROTECTIONS: dict[Protection, train_pb2.Protection] = {
    "paillier": train_pb2.PROTECTION_PAILLIER,
    "plaintext": train_pb2.PROTECTION_PLAINTEXT,
}
_KINDS: dict[StepKind, train_pb2.StepKind] = {
    "train": train_pb2.STEP_TRAIN,
    "eval": train_pb2.STEP_EVAL,
    "predict": train_pb2.STEP_PREDICT,
    "epoch_end": train_pb2.STEP_EPOCH_END,
    "done": train_pb2.STEP_DONE,
}
_MAX_POSITION = 2**63 - 1
K = TypeVar("K", bound=str)


def _decode_enum(value: int, table: Mapping[K, int], what: str) -> K:
    for name, wire in table.items():
        if wire == value:
            return name
    raise ProtocolViolationError(f"unknown {what} {value} on the wire")


# ---- layer spec ------------------------------------------------------------------------------


def spec_to_proto(spec: LayerSpec) -> train_pb2.LayerSpec:
    """Encode the interactive layer's public parameters."""
    return train_pb2.LayerSpec(
        in_dim=spec.in_dim,
        out_dim=spec.out_dim,
        batch_size=spec.batch_size,
        alpha_bound=spec.alpha_bound,
        weight_bound=spec.weight_bound,
        grad_bound=spec.grad_bound,
        frac_bits=spec.frac_bits,
        lr=spec.lr,
    )


def spec_from_proto(m: train_pb2.LayerSpec) -> LayerSpec:
    """Decode a layer spec; dimensions must be positive, bounds and lr positive and finite.

    Raises:
        ProtocolViolationError: a zero dimension or a non-positive / non-finite number.
    """
    if min(m.in_dim, m.out_dim, m.batch_size) < 1:
        raise ProtocolViolationError("layer spec: in_dim, out_dim and batch_size must be >= 1")
    for name in ("alpha_bound", "weight_bound", "grad_bound", "lr"):
        value = getattr(m, name)
        if not (math.isfinite(value) and value > 0):
            raise ProtocolViolationError(f"layer spec: {name} must be positive and finite")
    return LayerSpec(
        in_dim=m.in_dim,
        out_dim=m.out_dim,
        batch_size=m.batch_size,
        alpha_bound=m.alpha_bound,
        weight_bound=m.weight_bound,
        grad_bound=m.grad_bound,
        frac_bits=m.frac_bits,
        lr=m.lr,
    )


# ---- session ---------------------------------------------------------------------------------


def hello_to_proto(msg: Hello) -> train_pb2.HelloRequest:
    """Encode a hello (the party's identity travels in the envelope, not here)."""
    out = train_pb2.HelloRequest(
        mode=_MODES[msg.mode],
        protection=_PROTECTIONS[msg.protection],
        in_dim=msg.in_dim,
        n_rows=msg.n_rows,
        alignment_digest=msg.alignment_digest,
        public_key=msg.public_key,
        checkpoint_epochs=list(msg.checkpoint_epochs),
        model_id=msg.model_id,
    )
    if msg.initial_share is not None:
        out.initial_share.CopyFrom(float_matrix_to_proto(msg.initial_share, "initial share"))
    return out


def hello_from_proto(m: train_pb2.HelloRequest, party: str) -> Hello:
    """Decode a hello from `party` (the sender named by the checked envelope).

    Raises:
        ProtocolViolationError: unknown mode or protection, or a malformed initial share.
    """
    share = None
    if m.HasField("initial_share"):
        share = float_matrix_from_proto(m.initial_share, "initial share")
    return Hello(
        party=party,
        mode=_decode_enum(m.mode, _MODES, "mode"),
        protection=_decode_enum(m.protection, _PROTECTIONS, "protection"),
        in_dim=m.in_dim,
        n_rows=m.n_rows,
        alignment_digest=m.alignment_digest,
        public_key=bytes(m.public_key),
        checkpoint_epochs=tuple(m.checkpoint_epochs),
        initial_share=share,
        model_id=m.model_id,
    )


def hello_reply_to_proto(msg: HelloReply) -> train_pb2.HelloReply:
    """Encode the label party's answer to hello."""
    return train_pb2.HelloReply(
        session=msg.session,
        spec=spec_to_proto(msg.spec),
        start_epoch=msg.start_epoch,
        epochs=msg.epochs,
        model_id=msg.model_id,
        public_key=msg.public_key,
    )


def hello_reply_from_proto(m: train_pb2.HelloReply) -> HelloReply:
    """Decode the label party's answer to hello.

    Raises:
        ProtocolViolationError: no session token, no or a malformed layer spec.
    """
    if not m.session or not m.HasField("spec"):
        raise ProtocolViolationError("hello reply without a session token or layer spec")
    return HelloReply(
        session=m.session,
        spec=spec_from_proto(m.spec),
        start_epoch=m.start_epoch,
        epochs=m.epochs,
        model_id=m.model_id,
        public_key=bytes(m.public_key),
    )


def step_to_proto(step: Step) -> train_pb2.Step:
    """Encode a step; positions are indices into the shared order, never IDs.

    Raises:
        ProtocolViolationError: positions that are not a 1-D array of non-negative ints.
    """
    pos = np.asarray(step.positions)
    if pos.ndim != 1 or (pos.size and (pos.dtype.kind not in "iu" or int(pos.min()) < 0)):
        raise ProtocolViolationError("step positions must be a 1-D array of non-negative ints")
    return train_pb2.Step(
        kind=_KINDS[step.kind],
        epoch=step.epoch,
        batch=step.batch,
        positions=pos.astype(np.uint64).tolist(),
    )


def step_from_proto(m: train_pb2.Step) -> Step:
    """Decode a step.

    Raises:
        ProtocolViolationError: unknown step kind or a position beyond int64.
    """
    kind = _decode_enum(m.kind, _KINDS, "step kind")
    pos = np.asarray(m.positions, dtype=np.uint64)
    if pos.size and int(pos.max()) > _MAX_POSITION:
        raise ProtocolViolationError("step position out of range")
    return Step(
        kind=kind,
        epoch=m.epoch,
        batch=m.batch,
        positions=pos.astype(np.int64),
    )


# ---- forward ---------------------------------------------------------------------------------

Key = PublicKey | None


def _cts(m: Message, name: str, key: Key) -> PackedMatrix | None:
    if not m.HasField(name):
        return None
    return ciphertexts_from_proto(getattr(m, name), key, name)


def weights_reply_to_proto(batch: int, weights: PackedMatrix | None) -> train_pb2.WeightsReply:
    """Encode [[W̃]] under the label party's key (nothing in plaintext mode)."""
    out = train_pb2.WeightsReply(batch=batch)
    if weights is not None:
        out.weights.CopyFrom(ciphertexts_to_proto(weights))
    return out


def weights_reply_from_proto(m: train_pb2.WeightsReply, label_key: Key) -> PackedMatrix | None:
    """Decode [[W̃]] under the label party's key (None when absent)."""
    return _cts(m, "weights", label_key)


def forward_request_to_proto(msg: ForwardRequest) -> train_pb2.ForwardRequest:
    """Encode H's projection (under G's key) and [[E]] (or, in plaintext mode, α)."""
    out = train_pb2.ForwardRequest(batch=msg.batch)
    for name in ("projection", "noise_share"):
        value = getattr(msg, name)
        if value is not None:
            getattr(out, name).CopyFrom(ciphertexts_to_proto(value))
    if msg.alpha_plain is not None:
        out.alpha_plain.CopyFrom(float_matrix_to_proto(msg.alpha_plain, "alpha"))
    return out


def forward_request_from_proto(
    m: train_pb2.ForwardRequest, label_key: Key, party_key: Key
) -> ForwardRequest:
    """Decode a forward request: the projection under G's key, [[E]] under H's.

    Raises:
        ProtocolViolationError, CiphertextError, KeyMismatchError: malformed content.
    """
    plain = float_matrix_from_proto(m.alpha_plain, "alpha") if m.HasField("alpha_plain") else None
    return ForwardRequest(
        batch=m.batch,
        projection=_cts(m, "projection", label_key),
        noise_share=_cts(m, "noise_share", party_key),
        alpha_plain=plain,
    )


# ---- backward --------------------------------------------------------------------------------


def backward_reply_to_proto(msg: BackwardReply) -> train_pb2.BackwardReply:
    """Encode G's backward messages ([[δ]]_G and H's input gradient, or plaintext ∂L/∂α)."""
    out = train_pb2.BackwardReply(batch=msg.batch)
    for name in ("delta", "grad_input"):
        value = getattr(msg, name)
        if value is not None:
            getattr(out, name).CopyFrom(ciphertexts_to_proto(value))
    if msg.grad_alpha_plain is not None:
        out.grad_alpha_plain.CopyFrom(float_matrix_to_proto(msg.grad_alpha_plain, "grad alpha"))
    return out


def backward_reply_from_proto(
    m: train_pb2.BackwardReply, label_key: Key, party_key: Key
) -> BackwardReply:
    """Decode G's backward messages: [[δ]] under G's key, the input gradient under H's."""
    plain = None
    if m.HasField("grad_alpha_plain"):
        plain = float_matrix_from_proto(m.grad_alpha_plain, "grad alpha")
    return BackwardReply(
        batch=m.batch,
        delta=_cts(m, "delta", label_key),
        grad_input=_cts(m, "grad_input", party_key),
        grad_alpha_plain=plain,
    )


def backward_finish_to_proto(msg: BackwardFinish | None) -> train_pb2.BackwardFinishRequest:
    """Encode H's noisy weight gradient under G's key (None, in plaintext mode: empty)."""
    out = train_pb2.BackwardFinishRequest()
    if msg is not None:
        out.batch = msg.batch
        out.grad_weight.CopyFrom(ciphertexts_to_proto(msg.grad_weight))
    return out


def backward_finish_from_proto(
    m: train_pb2.BackwardFinishRequest, label_key: Key
) -> BackwardFinish | None:
    """Decode H's noisy weight gradient under G's key (None when absent)."""
    grad = _cts(m, "grad_weight", label_key)
    return None if grad is None else BackwardFinish(batch=m.batch, grad_weight=grad)
