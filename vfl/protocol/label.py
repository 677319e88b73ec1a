"""The label party's (G's) side of the interactive layer, one instance per feature party.

G holds W̃, its share of the interactive weights, and only ever sees H's embedding under
H's key or as the projection z = α·W. Every product it returns to H is masked (where H must
not learn it) and re-randomized by the engine's products (so H cannot strip the randomness
it chose and search the exponent for G's scalars).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vfl.crypto import PackedMatrix, PaillierEngine, decode, scalar_side_correction
from vfl.crypto.packing import quantize
from vfl.errors import ProtocolViolationError
from vfl.protocol.feature import cross_term_offset
from vfl.protocol.messages import (
    BackwardFinish,
    BackwardReply,
    FloatArray,
    ForwardFinish,
    ForwardReply,
    ForwardRequest,
    IntArray,
)
from vfl.protocol.spec import LayerSpec

__all__ = ["PaillierLabelLayer", "PlainLabelLayer"]


@dataclass
class _Batch:
    batch: int
    train: bool
    alpha_cols: PackedMatrix | None = None
    noise_share: PackedMatrix | None = None
    mask: IntArray | None = None
    offsets: IntArray | None = None
    z: FloatArray | None = None
    grad_mask: IntArray | None = None
    grad_offsets: IntArray | None = None
    done: set[str] = field(default_factory=set)


class PaillierLabelLayer:
    """G's state machine for one feature party.

    Args:
        spec: the agreed layer parameters.
        engine: an engine holding only H's public key.
        weight_share: W̃, G's initial d×h share of the interactive weights.
    """

    def __init__(self, spec: LayerSpec, engine: PaillierEngine, weight_share: FloatArray) -> None:
        if weight_share.shape != (spec.in_dim, spec.out_dim):
            raise ProtocolViolationError(
                f"weight share has shape {weight_share.shape}, expected "
                f"({spec.in_dim}, {spec.out_dim})"
            )
        self.spec = spec
        self.engine = engine
        self.weight_share = np.array(weight_share, dtype=np.float64)
        self._state: _Batch | None = None

    def on_forward(self, req: ForwardRequest) -> ForwardReply:
        """[[α]]·W̃ + R, re-randomized; keeps R and its own offset terms to unmask later."""
        if req.alpha_rows is None:
            raise ProtocolViolationError("forward request carries no encrypted embedding")
        self._check_shape(req.alpha_rows, (None, self.spec.in_dim), "embedding")
        train = req.alpha_cols is not None and req.noise_share is not None
        if req.noise_share is not None:
            self._check_shape(req.noise_share, (self.spec.in_dim, self.spec.out_dim), "share")
        budget = self.spec.forward_budget()
        product = self.engine.matmul(req.alpha_rows, self.weight_share)
        mask = self.engine.random_mask(product.shape, budget)
        # matmul/tmatmul return re-randomized ciphertexts (circuit privacy); adding the
        # plaintext mask keeps that fresh randomness, so no second re-randomization is needed.
        masked = self.engine.add_ints(product, mask)
        offsets = scalar_side_correction(self.weight_share, budget, "matmul")
        self._state = _Batch(req.batch, train, req.alpha_cols, req.noise_share, mask, offsets)
        return ForwardReply(batch=req.batch, masked=masked)

    def on_forward_finish(self, fin: ForwardFinish | None) -> FloatArray:
        """Remove R and the offsets: z = α·W (B×h)."""
        state = self._expect(getattr(fin, "batch", None))
        if fin is None or state.mask is None or state.offsets is None:
            raise ProtocolViolationError("forward finish arrived before the forward step")
        if fin.values.shape != state.mask.shape:
            raise ProtocolViolationError(
                f"forward finish has shape {fin.values.shape}, expected {state.mask.shape}"
            )
        state.z = decode(fin.values - state.mask - state.offsets, self.spec.forward_budget())
        return state.z

    def backward(self, delta: FloatArray) -> BackwardReply:
        """From δ = ∂L/∂z: [[αᵀ·δ + R']] for the weight update and [[(δ·Wᵀ)ᵀ + K]] for H."""
        state = self._expect(None)
        if not state.train or state.alpha_cols is None or state.noise_share is None:
            raise ProtocolViolationError("backward requested for a forward-only batch")
        delta = np.asarray(delta, dtype=np.float64)
        bwd = self.spec.backward_budget()
        grad = self.engine.tmatmul(state.alpha_cols, delta)
        state.grad_mask = self.engine.random_mask(grad.shape, bwd)
        state.grad_offsets = scalar_side_correction(delta, bwd, "tmatmul")
        grad = self.engine.add_ints(grad, state.grad_mask)
        grad_input = self._cross(state.noise_share, delta)
        return BackwardReply(batch=state.batch, grad_weight=grad, grad_input=grad_input)

    def _cross(self, noise_share: PackedMatrix, delta: FloatArray) -> PackedMatrix:
        """[[E]]·δᵀ + K + δ̂·Ŵ̃ᵀ − G's offsets: decrypts to exactly (δ·Wᵀ)ᵀ, unmasked."""
        cross = self.spec.cross_budget()
        product = self.engine.matmul(noise_share, delta.T)
        delta_q = quantize(delta, cross.a_bound, cross.a_frac_bits, "gradient δ")
        share_q = quantize(self.weight_share, cross.x_bound, cross.x_frac_bits, "weight share")
        own = share_q.dot(delta_q.T) - scalar_side_correction(delta.T, cross, "matmul")
        plain = own + cross_term_offset(self.spec)
        return self.engine.add_ints(product, plain)

    def on_backward_finish(self, fin: BackwardFinish | None) -> None:
        """Unmask ∇W + N/η and step W̃ ← W̃ − η·(∇W + N/η); H steps E ← E + N."""
        state = self._expect(getattr(fin, "batch", None))
        if fin is None or state.grad_mask is None or state.grad_offsets is None:
            raise ProtocolViolationError("backward finish arrived before the backward step")
        if fin.values.shape != state.grad_mask.shape:
            raise ProtocolViolationError("backward finish has the wrong shape")
        noisy = decode(
            fin.values - state.grad_mask - state.grad_offsets, self.spec.backward_budget()
        )
        self.weight_share = self.weight_share - self.spec.lr * noisy
        self._state = None

    def _expect(self, batch: int | None) -> _Batch:
        if self._state is None or (batch is not None and self._state.batch != batch):
            raise ProtocolViolationError(f"message for batch {batch} is out of place")
        return self._state

    @staticmethod
    def _check_shape(p: PackedMatrix, shape: tuple[int | None, int], what: str) -> None:
        rows, cols = p.shape
        if cols != shape[1] or (shape[0] is not None and rows != shape[0]):
            raise ProtocolViolationError(f"encrypted {what} has shape {p.shape}, expected {shape}")

    def state_dict(self) -> dict[str, object]:
        """G's persistent state: its weight share."""
        return {"weight_share": self.weight_share.copy()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore G's weight share from a checkpoint."""
        self.weight_share = np.array(state["weight_share"], dtype=np.float64)
        self._state = None


class PlainLabelLayer:
    """Plaintext split learning (a baseline only): G holds W = W̃ + E in the clear."""

    def __init__(self, spec: LayerSpec, weights: FloatArray) -> None:
        self.spec = spec
        self.weights = np.array(weights, dtype=np.float64)
        self._alpha: FloatArray | None = None
        self._batch: int | None = None
        self._z: FloatArray | None = None

    def on_forward(self, req: ForwardRequest) -> ForwardReply:
        """Compute z = α·W at once."""
        if req.alpha_plain is None or req.alpha_plain.shape[1:] != (self.spec.in_dim,):
            raise ProtocolViolationError("plaintext forward request lacks a B×d embedding")
        self._alpha, self._batch = req.alpha_plain, req.batch
        self._z = self._alpha @ self.weights
        return ForwardReply(batch=req.batch)

    def on_forward_finish(self, fin: ForwardFinish | None) -> FloatArray:
        """Return z (no finish message in plaintext mode)."""
        if self._z is None or fin is not None:
            raise ProtocolViolationError("plaintext forward finish is out of place")
        return self._z

    def backward(self, delta: FloatArray) -> BackwardReply:
        """∂L/∂α = δ·Wᵀ in the clear, then W ← W − η·αᵀδ."""
        if self._alpha is None or self._batch is None:
            raise ProtocolViolationError("backward requested before forward")
        grad_alpha = delta @ self.weights.T
        self.weights = self.weights - self.spec.lr * (self._alpha.T @ delta)
        return BackwardReply(batch=self._batch, grad_alpha_plain=grad_alpha)

    def on_backward_finish(self, fin: BackwardFinish | None) -> None:
        """Nothing to finish in plaintext mode."""
        if fin is not None:
            raise ProtocolViolationError("plaintext backward finish is out of place")
        self._alpha = None

    def state_dict(self) -> dict[str, object]:
        """The plaintext weights."""
        return {"weights": self.weights.copy()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore the plaintext weights."""
        self.weights = np.array(state["weights"], dtype=np.float64)
