"""Messages of the interactive-layer protocol, independent of any transport.

One feature party H and the label party G, per training batch. [[·]]_G is under G's key
(only G decrypts), [[·]]_H under H's key; every product is completed with the other side's
plaintext term, offset by a public constant K and re-randomized before it goes back to the
key holder::

    G → H  weights          [[W̃]]_G, packed along the interactive width (cached while W̃
                            is unchanged)
    H → G  ForwardRequest   [[(α·W̃ + α·E)ᵀ + K]]_G, and when training a fresh [[E]]_H;
                            G decrypts z = α·W
    G → H  BackwardReply    [[δ]]_G and [[(δ·W̃ᵀ + δ·Eᵀ)ᵀ + K]]_H; H decrypts ∂L/∂α = δ·Wᵀ
    H → G  BackwardFinish   [[(αᵀ·δ + N/η)ᵀ + K]]_G; G decrypts the noisy weight gradient

No party decrypts anything but the value it is meant to learn, so no product needs a mask.
In plaintext mode (a baseline only) α and ∂L/∂α travel in the clear and no ciphertext is
sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vfl.crypto import PackedMatrix

__all__ = [
    "BackwardFinish",
    "BackwardReply",
    "FloatArray",
    "ForwardRequest",
    "IntArray",
]

IntArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ForwardRequest:
    """H's projection for one batch under G's key (or, in plaintext mode, α in the clear)."""

    batch: int
    projection: PackedMatrix | None = None
    noise_share: PackedMatrix | None = None
    alpha_plain: FloatArray | None = None


@dataclass(frozen=True)
class BackwardReply:
    """G's backward messages: [[δ]]_G and H's input gradient under H's key."""

    batch: int
    delta: PackedMatrix | None = None
    grad_input: PackedMatrix | None = None
    grad_alpha_plain: FloatArray | None = None


@dataclass(frozen=True)
class BackwardFinish:
    """H's noisy weight gradient under G's key."""

    batch: int
    grad_weight: PackedMatrix
