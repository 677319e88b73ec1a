"""The label party's (G's) side of the interactive layer, one instance per feature party.

G holds its own Paillier key pair (one for all feature parties), each feature party's public
key, and W̃, its share of that party's interactive weights. It sends W̃ and δ only under its
own key, computes H's input gradient under H's key from [[E]]_H, and decrypts exactly two
things: the projection z = α·W and the noisy weight gradient ∇W + N/η.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vfl.crypto import (
    PackedMatrix,
    PaillierEngine,
    completion_addend,
    completion_offset,
    decode,
    encryptor_side_correction,
)
from vfl.errors import ProtocolViolationError
from vfl.protocol._parallel import both
from vfl.protocol.messages import BackwardFinish, BackwardReply, FloatArray, ForwardRequest
from vfl.protocol.spec import LayerSpec, check_packed, quantize_bounded

__all__ = ["PaillierLabelLayer", "PlainLabelLayer"]


@dataclass
class _Batch:
    batch: int
    train: bool
    rows: int
    noise_share: PackedMatrix | None = None
    delta: FloatArray | None = None


class PaillierLabelLayer:
    """G's state machine for one feature party.

    Args:
        spec: the agreed layer parameters.
        engine: an engine holding G's own key pair (shared by every feature party's layer).
        party_engine: an engine holding only this feature party's public key.
        weight_share: W̃, G's initial d×h share of the interactive weights.
    """

    def __init__(
        self,
        spec: LayerSpec,
        engine: PaillierEngine,
        party_engine: PaillierEngine,
        weight_share: FloatArray,
    ) -> None:
        if engine.private_key is None:
            raise ProtocolViolationError("the label side needs its own private key")
        if party_engine.public_key.n == engine.public_key.n:
            raise ProtocolViolationError("the feature party's key must differ from this party's")
        if weight_share.shape != (spec.in_dim, spec.out_dim):
            raise ProtocolViolationError(
                f"weight share has shape {weight_share.shape}, expected "
                f"({spec.in_dim}, {spec.out_dim})"
            )
        self.spec = spec
        self.engine = engine
        self.party_engine = party_engine
        self.weight_share = np.array(weight_share, dtype=np.float64)
        self._state: _Batch | None = None

    def weights(self) -> PackedMatrix:
        """A fresh encryption [[W̃]]_G, packed along the interactive width.

        Fresh on every call (d encryptions, a few milliseconds), so no ciphertext is ever
        sent twice, even while W̃ is unchanged (evaluation and prediction batches).
        """
        fwd = self.spec.forward_budget()
        quantize_bounded(
            self.weight_share, fwd.x_bound, fwd.x_frac_bits, "weight share W̃", "weight_bound"
        )
        return self.engine.encrypt(self.weight_share, axis=1, budget=fwd)

    def on_forward(self, req: ForwardRequest) -> FloatArray:
        """Decrypt the completed projection and remove G's terms: z = α·W (B×h)."""
        spec = self.spec
        fwd = spec.forward_budget()
        if req.projection is None:
            raise ProtocolViolationError("forward request carries no encrypted projection")
        rows = req.projection.shape[1]
        if not 1 <= rows <= spec.batch_size:
            raise ProtocolViolationError(
                f"projection for {rows} rows (batch size {spec.batch_size})"
            )
        projection = check_packed(
            req.projection,
            key=self.engine.public_key,
            shape=(spec.out_dim, rows),
            axis=0,
            budget=fwd,
            what="projection",
            stacked=True,
        )
        train = req.noise_share is not None
        share = None
        if train:
            share = check_packed(
                req.noise_share,
                key=self.party_engine.public_key,
                shape=(spec.in_dim, spec.out_dim),
                axis=0,
                budget=spec.cross_budget(),
                what="noise share E",
            )
        raw = self.engine.decrypt_ints(projection)
        own = encryptor_side_correction(self.weight_share, fwd, "tmatmul")
        z = decode(raw - own - completion_offset(fwd), fwd).T.copy()
        self._state = _Batch(req.batch, train, rows, share)
        return z

    def backward(self, delta: FloatArray) -> BackwardReply:
        """From δ = ∂L/∂z: [[δ]]_G for H's weight-gradient product, and H's input gradient."""
        state = self._expect(None)
        if not state.train or state.noise_share is None:
            raise ProtocolViolationError("backward requested for a forward-only batch")
        delta = np.asarray(delta, dtype=np.float64)
        if delta.shape != (state.rows, self.spec.out_dim):
            raise ProtocolViolationError(f"δ has shape {delta.shape}")
        share, bwd = state.noise_share, self.spec.backward_budget()
        self._check_delta(delta)
        encrypted, grad_input = both(
            lambda: self.engine.encrypt(delta, axis=1, budget=bwd),
            lambda: self._cross(share, delta),
        )
        state.delta = delta
        return BackwardReply(batch=state.batch, delta=encrypted, grad_input=grad_input)

    def _check_delta(self, delta: FloatArray) -> None:
        cross = self.spec.cross_budget()
        quantize_bounded(delta, cross.a_bound, cross.a_frac_bits, "gradient δ", "grad_bound")

    def _cross(self, noise_share: PackedMatrix, delta: FloatArray) -> PackedMatrix:
        """[[E]]_H·δᵀ completed with W̃·δᵀ: decrypts to exactly (δ·Wᵀ)ᵀ, and nothing else."""
        cross = self.spec.cross_budget()
        product = self.party_engine.matmul(noise_share, delta.T)  # d×B, re-randomized
        delta_q = quantize_bounded(
            delta, cross.a_bound, cross.a_frac_bits, "gradient δ", "grad_bound"
        )
        share_q = quantize_bounded(
            self.weight_share, cross.x_bound, cross.x_frac_bits, "weight share W̃", "weight_bound"
        )
        addend = completion_addend(delta.T, cross, "matmul", share_q.dot(delta_q.T))
        return self.party_engine.add_ints(product, addend)

    def on_backward_finish(self, fin: BackwardFinish | None) -> None:
        """Decrypt ∇W + N/η and step W̃ ← W̃ − η·(∇W + N/η); H steps E ← E + N."""
        state = self._expect(getattr(fin, "batch", None))
        if fin is None or state.delta is None:
            raise ProtocolViolationError("backward finish arrived before the backward step")
        bwd = self.spec.backward_budget()
        grad = check_packed(
            fin.grad_weight,
            key=self.engine.public_key,
            shape=(self.spec.out_dim, self.spec.in_dim),
            axis=0,
            budget=bwd,
            what="weight gradient",
            stacked=True,
        )
        raw = self.engine.decrypt_ints(grad)
        own = encryptor_side_correction(state.delta, bwd, "tmatmul")
        noisy = decode(raw - own - completion_offset(bwd), bwd).T
        self.weight_share = self.weight_share - self.spec.lr * noisy
        self._state = None

    def end_batch(self) -> None:
        """Forget a forward-only batch (evaluation, prediction)."""
        self._state = None

    def _expect(self, batch: int | None) -> _Batch:
        if self._state is None or (batch is not None and self._state.batch != batch):
            raise ProtocolViolationError(f"message for batch {batch} is out of place")
        return self._state

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

    def on_forward(self, req: ForwardRequest) -> FloatArray:
        """Z = α·W at once."""
        if req.alpha_plain is None or req.alpha_plain.shape[1:] != (self.spec.in_dim,):
            raise ProtocolViolationError("plaintext forward request lacks a B×d embedding")
        self._alpha, self._batch = req.alpha_plain, req.batch
        z: FloatArray = self._alpha @ self.weights
        return z

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

    def end_batch(self) -> None:
        """Forget a forward-only batch."""
        self._alpha = None

    def state_dict(self) -> dict[str, object]:
        """The plaintext weights."""
        return {"weights": self.weights.copy()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore the plaintext weights."""
        self.weights = np.array(state["weights"], dtype=np.float64)
