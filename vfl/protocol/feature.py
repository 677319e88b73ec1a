"""The feature party's (H's) side of the interactive layer.

H holds its Paillier key pair and the noise share E of its interactive weights
(W = W̃ + E; G holds W̃). Per batch H encrypts its embedding α, decrypts only masked values
and sums that already include G's share, and learns exactly ∂L/∂α = δ·Wᵀ.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

from vfl.crypto import PackedMatrix, PaillierEngine, decode, encryptor_side_correction
from vfl.crypto.packing import quantize
from vfl.errors import ProtocolViolationError
from vfl.protocol.messages import (
    BackwardFinish,
    BackwardReply,
    FloatArray,
    ForwardFinish,
    ForwardReply,
    ForwardRequest,
)
from vfl.protocol.spec import LayerSpec

__all__ = ["PaillierFeatureLayer", "PlainFeatureLayer", "cross_term_offset"]


def cross_term_offset(spec: LayerSpec) -> int:
    """Public constant K that G adds so the cross-term slots stay non-negative.

    G adds K + δ̂·Ŵ̃ᵀ − (its offset terms); the last two are bounded by 3·h·ox·oa in
    magnitude, so K = 3·h·ox·oa keeps every slot >= 0 and the total below 2·P.
    """
    b = spec.cross_budget()
    return 3 * b.n_terms * b.x_offset * b.a_offset


@dataclass
class _Pending:
    batch: int
    alpha: FloatArray
    noise: FloatArray
    train: bool


class PaillierFeatureLayer:
    """H's state machine: forward → finish_forward → finish_backward, one batch at a time.

    Args:
        spec: the agreed layer parameters.
        engine: a Paillier engine holding H's own key pair (H alone can decrypt).
        noise_share: E, H's initial d×h share of the interactive weights.
        noise_scale: each update folds fresh noise N ~ U(−scale, scale) into the weight
            gradient G sees (∇W + N/η), so G never learns the true weights.
    """

    def __init__(
        self,
        spec: LayerSpec,
        engine: PaillierEngine,
        noise_share: FloatArray,
        *,
        noise_scale: float = 1e-3,
    ) -> None:
        if engine.private_key is None:
            raise ProtocolViolationError("the feature side needs its own private key")
        if noise_share.shape != (spec.in_dim, spec.out_dim):
            raise ProtocolViolationError(
                f"noise share has shape {noise_share.shape}, expected "
                f"({spec.in_dim}, {spec.out_dim})"
            )
        self.spec = spec
        self.engine = engine
        self.noise_share = np.array(noise_share, dtype=np.float64)
        self.noise_scale = noise_scale
        self._pending: _Pending | None = None

    def forward(self, batch: int, alpha: FloatArray, *, train: bool) -> ForwardRequest:
        """Encrypt α (B×d) for G; when training also along the features, plus [[E]]."""
        alpha = np.asarray(alpha, dtype=np.float64)
        spec = self.spec
        rows = self.engine.encrypt(alpha, axis=0, budget=spec.forward_budget())
        cols = share = None
        if train:
            cols = self.engine.encrypt(alpha, axis=1, budget=spec.backward_budget())
            share = self.engine.encrypt(self.noise_share, axis=0, budget=spec.cross_budget())
        self._pending = _Pending(batch, alpha, self.noise_share.copy(), train)
        return ForwardRequest(batch=batch, alpha_rows=rows, alpha_cols=cols, noise_share=share)

    def finish_forward(self, reply: ForwardReply) -> ForwardFinish:
        """Decrypt α·W̃ + R, remove H's offset term, add α·E; the sum stays masked by R."""
        pending = self._expect(reply.batch)
        if reply.masked is None:
            raise ProtocolViolationError("forward reply carries no ciphertexts")
        budget = self.spec.forward_budget()
        raw = self.engine.decrypt_ints(reply.masked)
        own = encryptor_side_correction(pending.alpha, budget, "matmul")
        alpha_q = quantize(pending.alpha, budget.x_bound, budget.x_frac_bits, "embedding")
        noise_q = quantize(pending.noise, budget.a_bound, budget.a_frac_bits, "weight share")
        values = raw - own + alpha_q.dot(noise_q)
        if not pending.train:
            self._pending = None
        return ForwardFinish(batch=reply.batch, values=values)

    def finish_backward(self, reply: BackwardReply) -> tuple[BackwardFinish, FloatArray]:
        """Return the masked weight gradient with fresh noise, and ∂L/∂α for the tower."""
        pending = self._expect(reply.batch)
        if reply.grad_weight is None or reply.grad_input is None:
            raise ProtocolViolationError("backward reply lacks a gradient")
        grad_alpha = self._input_gradient(reply.grad_input, pending)
        bwd = self.spec.backward_budget()
        raw = self.engine.decrypt_ints(reply.grad_weight)
        own = encryptor_side_correction(pending.alpha, bwd, "tmatmul")
        noise_q = self._draw_noise(bwd.scale_bits)
        values = raw - own + noise_q
        step = np.array([float(v) for v in noise_q.ravel()]).reshape(noise_q.shape)
        self.noise_share = pending.noise + self.spec.lr * np.ldexp(step, -bwd.scale_bits)
        self._pending = None
        return BackwardFinish(batch=reply.batch, values=values), grad_alpha

    def _input_gradient(self, grad_input: PackedMatrix, pending: _Pending) -> FloatArray:
        """δ·Wᵀ: G's sum δ·(Ŵ̃ + Ê)ᵀ arrives whole, so δ itself stays hidden."""
        cross = self.spec.cross_budget()
        raw = self.engine.decrypt_ints(grad_input)
        own = encryptor_side_correction(pending.noise, cross, "matmul")
        exact = raw - own - cross_term_offset(self.spec)
        return decode(exact, cross).T.copy()

    def _draw_noise(self, scale_bits: int) -> np.ndarray:
        """N/η as exact ints at the gradient's scale, N ~ U(−noise_scale, noise_scale)."""
        limit = int(self.noise_scale / self.spec.lr * 2**scale_bits)
        shape = (self.spec.in_dim, self.spec.out_dim)
        flat = [secrets.randbelow(2 * limit + 1) - limit for _ in range(shape[0] * shape[1])]
        return np.array(flat, dtype=object).reshape(shape)

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

    def forward(self, batch: int, alpha: FloatArray, *, train: bool) -> ForwardRequest:
        """Send α itself."""
        del train
        return ForwardRequest(batch=batch, alpha_plain=np.asarray(alpha, dtype=np.float64))

    def finish_forward(self, reply: ForwardReply) -> None:
        """Nothing to finish in plaintext mode."""
        del reply

    def finish_backward(self, reply: BackwardReply) -> tuple[None, FloatArray]:
        """∂L/∂α arrives in the clear."""
        if reply.grad_alpha_plain is None:
            raise ProtocolViolationError("plaintext backward reply lacks ∂L/∂α")
        return None, reply.grad_alpha_plain

    def state_dict(self) -> dict[str, object]:
        """Nothing beyond the initial share is kept."""
        return {"noise_share": self.noise_share.copy()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore the initial share."""
        self.noise_share = np.array(state["noise_share"], dtype=np.float64)
