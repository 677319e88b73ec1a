"""Tensor codecs of the training wire: ciphertexts and float64 matrices.

Every decoder checks sizes against the declared shape before touching the bytes and turns
malformed input into `ProtocolViolationError` (or `CiphertextError` / `KeyMismatchError` for
ciphertexts), never an `IndexError` or a silently reshaped array.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from protocols import train_pb2
from vfl.crypto import PackedMatrix, PublicKey, WireMeta, from_wire, to_wire
from vfl.errors import (
    CiphertextError,
    EncodingBoundsError,
    KeyMismatchError,
    ProtocolViolationError,
)

__all__ = [
    "MAX_INT_BYTES",
    "ciphertexts_from_proto",
    "ciphertexts_to_proto",
    "float_matrix_from_proto",
    "float_matrix_to_proto",
]

#: Widest slot bound accepted (8192 bits; a slot of the protocol is under a hundred bits).
MAX_INT_BYTES = 1024

FloatArray = npt.NDArray[np.float64]


def _shape2d(values: npt.NDArray[np.generic], what: str) -> tuple[int, int]:
    if values.ndim != 2:
        raise ProtocolViolationError(f"{what} must be a 2-D matrix, got shape {values.shape}")
    return int(values.shape[0]), int(values.shape[1])


def float_matrix_to_proto(values: npt.ArrayLike, what: str = "floats") -> train_pb2.FloatMatrix:
    """Encode a float64 matrix as little-endian bytes, row-major.

    Raises:
        ProtocolViolationError: not a 2-D matrix.
    """
    arr = np.asarray(values, dtype=np.float64)
    rows, cols = _shape2d(arr, what)
    return train_pb2.FloatMatrix(rows=rows, cols=cols, data=arr.astype("<f8").tobytes())


def float_matrix_from_proto(m: train_pb2.FloatMatrix, what: str = "floats") -> FloatArray:
    """Decode a `FloatMatrix`; NaN and infinities are refused (they would poison training).

    Raises:
        ProtocolViolationError: wrong byte count for the shape, or a non-finite value.
    """
    rows, cols = m.rows, m.cols
    if len(m.data) != rows * cols * 8:
        raise ProtocolViolationError(
            f"{what}: {len(m.data)} bytes do not hold {rows}×{cols} float64 values"
        )
    arr: FloatArray = np.frombuffer(m.data, dtype="<f8").astype(np.float64).reshape(rows, cols)
    if not np.all(np.isfinite(arr)):
        raise ProtocolViolationError(f"{what}: contains NaN or infinite values")
    return arr


def ciphertexts_to_proto(p: PackedMatrix) -> train_pb2.Ciphertexts:
    """Encode a packed tensor: fixed-width ciphertexts plus its public metadata."""
    data, meta = to_wire(p)
    bound = meta.slot_bound.to_bytes(max(1, (meta.slot_bound.bit_length() + 7) // 8), "big")
    return train_pb2.Ciphertexts(
        fingerprint=meta.fingerprint,
        rows=meta.rows,
        cols=meta.cols,
        axis=meta.axis,
        x_bound=meta.x_bound,
        a_bound=meta.a_bound,
        n_terms=meta.n_terms,
        x_frac_bits=meta.x_frac_bits,
        a_frac_bits=meta.a_frac_bits,
        mask_bits=meta.mask_bits,
        slots=meta.slots,
        slot_bound=bound,
        data=data,
        stack=meta.stack if meta.stack > 1 else 0,
    )


def ciphertexts_from_proto(
    m: train_pb2.Ciphertexts, public_key: PublicKey | None, what: str = "ciphertexts"
) -> PackedMatrix:
    """Decode and check a packed tensor under the key holder's `public_key`.

    Raises:
        ProtocolViolationError: ciphertexts arrived but no public key is known for them.
        KeyMismatchError: the tensor was made under another key.
        CiphertextError: wrong byte count, a ciphertext outside Z*_{n²}, or metadata that
            contradicts its own budget.
    """
    if public_key is None:
        raise ProtocolViolationError(
            f"{what}: ciphertexts received but no public key is known for them "
            "(protected mode, after hello only)"
        )
    if len(m.slot_bound) > MAX_INT_BYTES:
        raise CiphertextError(f"{what}: slot bound is {len(m.slot_bound)} bytes long")
    meta = WireMeta(
        rows=m.rows,
        cols=m.cols,
        axis=m.axis,
        x_bound=m.x_bound,
        a_bound=m.a_bound,
        n_terms=m.n_terms,
        x_frac_bits=m.x_frac_bits,
        a_frac_bits=m.a_frac_bits,
        mask_bits=m.mask_bits,
        slots=m.slots,
        slot_bound=int.from_bytes(m.slot_bound, "big"),
        fingerprint=m.fingerprint,
        stack=max(1, m.stack),
    )
    try:
        return from_wire(m.data, meta, public_key)
    except KeyMismatchError as exc:
        raise KeyMismatchError(f"{what}: {exc}") from exc
    except CiphertextError as exc:
        raise CiphertextError(f"{what}: {exc}") from exc
    except (EncodingBoundsError, OverflowError) as exc:
        raise CiphertextError(f"{what}: inconsistent ciphertext metadata: {exc}") from exc
