"""Conversion between the protocol's Python messages and `protocols.train_pb2`, in one place.

Symmetric `x_to_proto` / `x_from_proto` pairs, one per message. Encoders leave the envelope
and the session token empty: the transport stamps them. Decoders check structure (known enum
values, byte counts for declared shapes, finite floats, ciphertexts in range under the key
holder's public key) and raise `ProtocolViolationError`, `CiphertextError` or
`KeyMismatchError`; the protocol state machines check the semantics (shapes against the layer
spec, batch numbers, order of steps).

Every ciphertext of the protocol is under the feature party's key: the label party decodes
with the key the feature party announced at hello, the feature party with its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from protocols import train_pb2
from vfl.crypto import PublicKey
from vfl.errors import ProtocolViolationError
from vfl.protocol.messages import (
    BackwardFinish,
    BackwardReply,
    ForwardFinish,
    ForwardReply,
    ForwardRequest,
)
from vfl.protocol.session import Hello, HelloReply, Mode, Protection, Step, StepKind
from vfl.protocol.spec import LayerSpec
from vfl.transport._tensors import (
    MAX_INT_BYTES,
    ciphertexts_from_proto,
    ciphertexts_to_proto,
    float_matrix_from_proto,
    float_matrix_to_proto,
    int_matrix_from_proto,
    int_matrix_to_proto,
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
    "forward_finish_from_proto",
    "forward_finish_to_proto",
    "forward_reply_from_proto",
    "forward_reply_to_proto",
    "forward_request_from_proto",
    "forward_request_to_proto",
    "hello_from_proto",
    "hello_reply_from_proto",
    "hello_reply_to_proto",
    "hello_to_proto",
    "int_matrix_from_proto",
    "int_matrix_to_proto",
    "spec_from_proto",
    "spec_to_proto",
    "step_from_proto",
    "step_to_proto",
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
        mask_bits=spec.mask_bits,
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
        mask_bits=m.mask_bits,
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


def forward_request_to_proto(msg: ForwardRequest) -> train_pb2.ForwardRequest:
    """Encode H's (encrypted, or in plaintext mode clear) embedding for one batch."""
    out = train_pb2.ForwardRequest(batch=msg.batch)
    for name in ("alpha_rows", "alpha_cols", "noise_share"):
        value = getattr(msg, name)
        if value is not None:
            getattr(out, name).CopyFrom(ciphertexts_to_proto(value))
    if msg.alpha_plain is not None:
        out.alpha_plain.CopyFrom(float_matrix_to_proto(msg.alpha_plain, "alpha"))
    return out


def forward_request_from_proto(
    m: train_pb2.ForwardRequest, public_key: PublicKey | None
) -> ForwardRequest:
    """Decode a forward request; ciphertexts are checked under the feature party's key.

    Raises:
        ProtocolViolationError, CiphertextError, KeyMismatchError: malformed content.
    """
    cts = {
        name: ciphertexts_from_proto(getattr(m, name), public_key, name)
        for name in ("alpha_rows", "alpha_cols", "noise_share")
        if m.HasField(name)
    }
    plain = float_matrix_from_proto(m.alpha_plain, "alpha") if m.HasField("alpha_plain") else None
    return ForwardRequest(batch=m.batch, alpha_plain=plain, **cts)


def forward_reply_to_proto(msg: ForwardReply) -> train_pb2.ForwardReply:
    """Encode G's masked product [[α·W̃ + R]] (empty in plaintext mode)."""
    out = train_pb2.ForwardReply(batch=msg.batch)
    if msg.masked is not None:
        out.masked.CopyFrom(ciphertexts_to_proto(msg.masked))
    return out


def forward_reply_from_proto(
    m: train_pb2.ForwardReply, public_key: PublicKey | None
) -> ForwardReply:
    """Decode G's masked product under the feature party's own key."""
    masked = None
    if m.HasField("masked"):
        masked = ciphertexts_from_proto(m.masked, public_key, "masked")
    return ForwardReply(batch=m.batch, masked=masked)


def _finish_to_proto(batch: int, values: npt.ArrayLike, what: str) -> train_pb2.Finish:
    return train_pb2.Finish(batch=batch, values=int_matrix_to_proto(values, what))


def forward_finish_to_proto(msg: ForwardFinish | None) -> train_pb2.ForwardFinishRequest:
    """Encode H's decrypted masked product (None, in plaintext mode, sends no finish)."""
    out = train_pb2.ForwardFinishRequest()
    if msg is not None:
        out.finish.CopyFrom(_finish_to_proto(msg.batch, msg.values, "forward finish"))
    return out


def forward_finish_from_proto(m: train_pb2.ForwardFinishRequest) -> ForwardFinish | None:
    """Decode H's decrypted masked product (None when absent)."""
    if not m.HasField("finish"):
        return None
    values = int_matrix_from_proto(m.finish.values, "forward finish")
    return ForwardFinish(batch=m.finish.batch, values=values)


# ---- backward --------------------------------------------------------------------------------


def backward_reply_to_proto(msg: BackwardReply) -> train_pb2.BackwardReply:
    """Encode G's backward messages (masked gradients, or ∂L/∂α in plaintext mode)."""
    out = train_pb2.BackwardReply(batch=msg.batch)
    for name in ("grad_weight", "grad_input"):
        value = getattr(msg, name)
        if value is not None:
            getattr(out, name).CopyFrom(ciphertexts_to_proto(value))
    if msg.grad_alpha_plain is not None:
        out.grad_alpha_plain.CopyFrom(float_matrix_to_proto(msg.grad_alpha_plain, "grad alpha"))
    return out


def backward_reply_from_proto(
    m: train_pb2.BackwardReply, public_key: PublicKey | None
) -> BackwardReply:
    """Decode G's backward messages under the feature party's own key."""
    cts = {
        name: ciphertexts_from_proto(getattr(m, name), public_key, name)
        for name in ("grad_weight", "grad_input")
        if m.HasField(name)
    }
    plain = None
    if m.HasField("grad_alpha_plain"):
        plain = float_matrix_from_proto(m.grad_alpha_plain, "grad alpha")
    return BackwardReply(batch=m.batch, grad_alpha_plain=plain, **cts)


def backward_finish_to_proto(msg: BackwardFinish | None) -> train_pb2.BackwardFinishRequest:
    """Encode H's masked weight gradient with its noise folded in (None: plaintext mode)."""
    out = train_pb2.BackwardFinishRequest()
    if msg is not None:
        out.finish.CopyFrom(_finish_to_proto(msg.batch, msg.values, "backward finish"))
    return out


def backward_finish_from_proto(m: train_pb2.BackwardFinishRequest) -> BackwardFinish | None:
    """Decode H's masked weight gradient (None when absent)."""
    if not m.HasField("finish"):
        return None
    values = int_matrix_from_proto(m.finish.values, "backward finish")
    return BackwardFinish(batch=m.finish.batch, values=values)
