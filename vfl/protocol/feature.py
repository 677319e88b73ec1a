"""The feature party's (H's) side of the interactive layer.

H holds its own Paillier key pair, the label party's public key and the noise share E of its
interactive weights (W = W̃ + E; G holds W̃). Per batch H computes, under G's key, its
projection from [[W̃]]_G with its embedding α as the exponents, completes it with α·E, and
later the weight gradient from [[δ]]_G with the noise it folds in. It decrypts one thing:
∂L/∂α = δ·Wᵀ, under its own key.
"""

from __future__ import annotations

import secrets
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
from vfl.errors import EncodingBoundsError, ProtocolViolationError
from vfl.protocol._parallel import both
from vfl.protocol.messages import BackwardFinish, BackwardReply, FloatArray, ForwardRequest
from vfl.protocol.spec import LayerSpec, check_packed, quantize_bounded

__all__ = ["PaillierFeatureLayer", "PlainFeatureLayer"]


@dataclass
class _Pending:
    batch: int
    alpha: FloatArray
    noise: FloatArray
    train: bool


class PaillierFeatureLayer:
    """H's state machine: forward → finish_backward, one batch at a time.

    Args:
        spec: the agreed layer parameters.
        engine: a Paillier engine holding H's own key pair (H alone can decrypt under it).
        label_engine: an engine holding only the label party's public key (for products
            and re-randomization under G's key).
        noise_share: E, H's initial d×h share of the interactive weights.
        noise_scale: each update folds fresh noise N ~ U(−scale, scale) into the weight
            gradient G sees (∇W + N/η), so G never learns the true weights.
    """

    def __init__(
        self,
        spec: LayerSpec,
        engine: PaillierEngine,
        label_engine: PaillierEngine,
        noise_share: FloatArray,
        *,
        noise_scale: float = 1e-3,
    ) -> None:
        if engine.private_key is None:
            raise ProtocolViolationError("the feature side needs its own private key")
        if label_engine.public_key.n == engine.public_key.n:
            raise ProtocolViolationError("the label party's key must differ from this party's")
        if noise_share.shape != (spec.in_dim, spec.out_dim):
            raise ProtocolViolationError(
                f"noise share has shape {noise_share.shape}, expected "
                f"({spec.in_dim}, {spec.out_dim})"
            )
        bwd = spec.backward_budget()
        if noise_scale / spec.lr * 2**bwd.scale_bits > bwd.n_terms * bwd.x_offset * bwd.a_offset:
            raise EncodingBoundsError("noise_scale / interactive lr exceeds the gradient budget")
        self.spec = spec
        self.engine = engine
        self.label_engine = label_engine
        self.noise_share = np.array(noise_share, dtype=np.float64)
        self.noise_scale = noise_scale
        self._pending: _Pending | None = None

    def forward(
        self, batch: int, alpha: FloatArray, weights: PackedMatrix | None, *, train: bool
    ) -> ForwardRequest:
        """[[(α·W̃)ᵀ]]_G from G's [[W̃]]_G, completed with α·E: G will decrypt z = α·W.

        When training, also a fresh [[E]]_H for the cross term of the backward pass.
        """
        spec = self.spec
        fwd = spec.forward_budget()
        alpha = np.asarray(alpha, dtype=np.float64)
        if alpha.ndim != 2 or alpha.shape[1] != spec.in_dim or alpha.shape[0] > spec.batch_size:
            raise ProtocolViolationError(f"embedding has shape {alpha.shape}")
        weights = check_packed(
            weights,
            key=self.label_engine.public_key,
            shape=(spec.in_dim, spec.out_dim),
            axis=1,
            budget=fwd,
            what="weight share W̃",
        )
        alpha_q = quantize_bounded(alpha, fwd.a_bound, fwd.a_frac_bits, "embedding", "alpha_bound")
        noise_q = quantize_bounded(
            self.noise_share, fwd.x_bound, fwd.x_frac_bits, "weight share E", "weight_bound"
        )
        addend = completion_addend(alpha.T, fwd, "tmatmul", alpha_q.dot(noise_q).T)
        noise = self.noise_share

        def encrypt_share() -> PackedMatrix | None:
            return self.engine.encrypt(noise, axis=0, budget=spec.cross_budget()) if train else None

        share, product = both(
            encrypt_share,
            lambda: self.label_engine.tmatmul(weights, alpha.T),  # h×B, re-randomized
        )
        projection = self.label_engine.add_ints(product, addend)
        self._pending = _Pending(batch, alpha, self.noise_share.copy(), train)
        return ForwardRequest(batch=batch, projection=projection, noise_share=share)

    def finish_backward(self, reply: BackwardReply) -> tuple[BackwardFinish, FloatArray]:
        """∂L/∂α for the tower, and [[(αᵀ·δ + N/η)ᵀ]]_G with fresh noise N for G."""
        pending = self._expect(reply.batch)
        if not pending.train:
            raise ProtocolViolationError("backward reply for a forward-only batch")
        spec = self.spec
        rows = pending.alpha.shape[0]
        bwd = spec.backward_budget()
        delta = check_packed(
            reply.delta,
            key=self.label_engine.public_key,
            shape=(rows, spec.out_dim),
            axis=1,
            budget=bwd,
            what="gradient δ",
        )
        grad_input = check_packed(
            reply.grad_input,
            key=self.engine.public_key,
            shape=(spec.in_dim, rows),
            axis=0,
            budget=spec.cross_budget(),
            what="input gradient",
            stacked=True,
        )
        product, grad_alpha = both(
            lambda: self.label_engine.tmatmul(delta, pending.alpha),  # h×d, re-randomized
            lambda: self._input_gradient(grad_input, pending),
        )
        noise_q = self._draw_noise(bwd.scale_bits)
        addend = completion_addend(pending.alpha, bwd, "tmatmul", noise_q.T)
        grad = self.label_engine.add_ints(product, addend)
        step = np.array([float(v) for v in noise_q.ravel()]).reshape(noise_q.shape)
        self.noise_share = pending.noise + spec.lr * np.ldexp(step, -bwd.scale_bits)
        self._pending = None
        return BackwardFinish(batch=reply.batch, grad_weight=grad), grad_alpha

    def _input_gradient(self, grad_input: PackedMatrix, pending: _Pending) -> FloatArray:
        """δ·Wᵀ: G's completed sum (δ·(W̃ + E)ᵀ)ᵀ arrives whole, so δ itself stays hidden."""
        cross = self.spec.cross_budget()
        raw = self.engine.decrypt_ints(grad_input)
        own = encryptor_side_correction(pending.noise, cross, "matmul")
        return decode(raw - own - completion_offset(cross), cross).T.copy()

    def _draw_noise(self, scale_bits: int) -> np.ndarray:
        """N/η as exact ints at the gradient's scale, N ~ U(−noise_scale, noise_scale)."""
        limit = int(self.noise_scale / self.spec.lr * 2**scale_bits)
        shape = (self.spec.in_dim, self.spec.out_dim)
        flat = [secrets.randbelow(2 * limit + 1) - limit for _ in range(shape[0] * shape[1])]
        return np.array(flat, dtype=object).reshape(shape)

    def end_batch(self) -> None:
        """Forget a forward-only batch (evaluation, prediction)."""
        self._pending = None

    def _expect(self, batch: int) -> _Pending:
        if self._pending is None or self._pending.batch != batch:
            raise ProtocolViolationError(f"unexpected reply for batch {batch}")
        return self._pending

    def state_dict(self) -> dict[str, object]:
        """H's persistent state: its weight share (the key is saved separately)."""
        return {"noise_share": self.noise_share.copy()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore H's weight share from a checkpoint."""
        self.noise_share = np.array(state["noise_share"], dtype=np.float64)
        self._pending = None


class PlainFeatureLayer:
    """Plaintext split learning (a baseline only): α and ∂L/∂α travel in the clear.

    H's share E is sent once (`initial_share`) so the plaintext run starts from the same
    weights W = W̃ + E as a protected run with the same seeds.
    """

    def __init__(self, spec: LayerSpec, noise_share: FloatArray) -> None:
        self.spec = spec
        self.noise_share = np.array(noise_share, dtype=np.float64)

    def forward(
        self, batch: int, alpha: FloatArray, weights: PackedMatrix | None, *, train: bool
    ) -> ForwardRequest:
        """Send α itself."""
        del train
        if weights is not None:
            raise ProtocolViolationError("plaintext mode takes no encrypted weights")
        return ForwardRequest(batch=batch, alpha_plain=np.asarray(alpha, dtype=np.float64))

    def finish_backward(self, reply: BackwardReply) -> tuple[None, FloatArray]:
        """∂L/∂α arrives in the clear."""
        if reply.grad_alpha_plain is None:
            raise ProtocolViolationError("plaintext backward reply lacks ∂L/∂α")
        return None, reply.grad_alpha_plain

    def end_batch(self) -> None:
        """Nothing to forget in plaintext mode."""

    def state_dict(self) -> dict[str, object]:
        """Nothing beyond the initial share is kept."""
        return {"noise_share": self.noise_share.copy()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore the initial share."""
        self.noise_share = np.array(state["noise_share"], dtype=np.float64)
