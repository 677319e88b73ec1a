"""Messages of the interactive-layer protocol, independent of any transport.

One feature party H and the label party G exchange, per batch::

    H → G  ForwardRequest   [[α]] packed along the batch (and, when training, along the
                            features, plus a fresh [[E]])
    G → H  ForwardReply     [[α·W̃ + R]] re-randomized
    H → G  ForwardFinish    α·W̃ + R + α·E (+ public offsets), exact integers
    G → H  BackwardReply    [[αᵀ·δ + R']] and [[δ·Wᵀ + K]] (transposed), re-randomized
    H → G  BackwardFinish   αᵀ·δ + R' + N/η (+ public offsets), exact integers

In plaintext mode (a baseline only) α and ∂L/∂α travel in the clear and the finish messages
are not sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vfl.crypto import PackedMatrix

__all__ = [
    "BackwardFinish",
    "BackwardReply",
    "ForwardFinish",
    "ForwardReply",
    "ForwardRequest",
    "IntArray",
]

IntArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ForwardRequest:
    """H's embedding for one batch, encrypted (or, in plaintext mode, in the clear)."""

    batch: int
    alpha_rows: PackedMatrix | None = None
    alpha_cols: PackedMatrix | None = None
    noise_share: PackedMatrix | None = None
    alpha_plain: FloatArray | None = None


@dataclass(frozen=True)
class ForwardReply:
    """G's masked product [[α·W̃ + R]] (empty in plaintext mode)."""

    batch: int
    masked: PackedMatrix | None = None


@dataclass(frozen=True)
class ForwardFinish:
    """H's decrypted masked product plus its own share's term α·E, as exact integers."""

    batch: int
    values: IntArray


@dataclass(frozen=True)
class BackwardReply:
    """G's backward messages: the masked weight gradient and H's input gradient."""

    batch: int
    grad_weight: PackedMatrix | None = None
    grad_input: PackedMatrix | None = None
    grad_alpha_plain: FloatArray | None = None


@dataclass(frozen=True)
class BackwardFinish:
    """H's decrypted masked weight gradient with its fresh noise N/η folded in."""

    batch: int
    values: IntArray
