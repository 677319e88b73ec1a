"""Public parameters of one interactive layer, agreed by both sides at hello."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vfl.crypto import PackedMatrix, ProductBudget, PublicKey
from vfl.crypto.packing import quantize, stack_factor
from vfl.errors import EncodingBoundsError, ProtocolViolationError

_HINTS = {
    "alpha_bound": "give the tower a bounded output activation (tanh) or raise",
    "weight_bound": "training diverged, or raise",
    "grad_bound": "lower the learning rate, scale the targets, or raise",
}

__all__ = ["LayerSpec", "check_packed", "quantize_bounded"]


@dataclass(frozen=True)
class LayerSpec:
    """Shape, bounds and fixed-point precision of one feature party's interactive layer.

    All of it is public: both sides derive the same three product budgets from it. Values
    outside the bounds are refused by the codec (a clear error, never a silent wrap), so the
    bounds double as a divergence check on training. The defaults fit the built-in towers
    (tanh embeddings, |α| <= 1) with room to spare and keep every product of the default
    workload (d = h = 32, B = 256) at one ciphertext per row under a 2048-bit key.

    None of the three products carries a mask: each is decrypted only by a party entitled
    to its value (G learns z = α·W and the noisy gradient ∇W + N/η, H learns ∂L/∂α), so
    their budgets declare mask_bits = 0 (see `vfl.crypto.packing`).

    Attributes:
        in_dim: embedding width d of the feature party's tower.
        out_dim: interactive width h (the shared latent space).
        batch_size: largest batch B.
        alpha_bound: largest |α| of an embedding entry.
        weight_bound: largest |entry| of the weight shares W̃ and E.
        grad_bound: largest |δ| entry, δ = ∂L/∂z.
        frac_bits: fixed-point fraction bits of every encoded quantity.
        lr: learning rate of the interactive weights (plain SGD, which keeps the weight
            split W = W̃ + E exact under the noise that H folds in).
    """

    in_dim: int
    out_dim: int
    batch_size: int
    alpha_bound: float = 2.0
    weight_bound: float = 8.0
    grad_bound: float = 2.0
    frac_bits: int = 24
    lr: float = 0.05

    def forward_budget(self) -> ProductBudget:
        """[[W̃]]ᵀ·αᵀ: W̃ encrypted by G under its key, α scalars of H, d terms per output."""
        return self._budget(self.weight_bound, self.alpha_bound, self.in_dim)

    def backward_budget(self) -> ProductBudget:
        """[[δ]]ᵀ·α: δ encrypted by G under its key, α scalars of H, B terms per output."""
        return self._budget(self.grad_bound, self.alpha_bound, self.batch_size)

    def cross_budget(self) -> ProductBudget:
        """[[E]]·δᵀ: H's share encrypted under H's key, δ scalars of G, h terms per output."""
        return self._budget(self.weight_bound, self.grad_bound, self.out_dim)

    def _budget(self, x_bound: float, a_bound: float, n_terms: int) -> ProductBudget:
        return ProductBudget(
            x_bound=x_bound,
            a_bound=a_bound,
            n_terms=n_terms,
            x_frac_bits=self.frac_bits,
            a_frac_bits=self.frac_bits,
            mask_bits=0,
        )


def check_packed(
    p: PackedMatrix | None,
    *,
    key: PublicKey,
    shape: tuple[int, int],
    axis: int,
    budget: ProductBudget,
    what: str,
    stacked: bool = False,
) -> PackedMatrix:
    """Check a received encrypted tensor against what this step of the protocol expects.

    The transport already checked that the ciphertexts are well formed under the key they
    name; this checks that they are the tensor the layer expects: the right key, shape,
    packing and budget (a peer must not pick its own bounds), with the slot count the
    budget gives under that key; a product's output (`stacked`) may stack as many of its
    columns per ciphertext as fit (`vfl.crypto.packing.stack_factor`; the engine picks the
    number by cost), anything else none.

    Raises:
        ProtocolViolationError: missing, or any of the above differs.
    """
    if p is None:
        raise ProtocolViolationError(f"the message carries no encrypted {what}")
    problems = []
    if p.fingerprint != key.fingerprint:
        problems.append("it is under another key")
    if p.shape != shape:
        problems.append(f"shape {p.shape}, expected {shape}")
    if p.axis != axis:
        problems.append(f"packed along axis {p.axis}, expected {axis}")
    if p.budget != budget:
        problems.append("its product budget differs from the agreed layer parameters")
    elif p.slots != budget.slots_per_ciphertext(key):
        problems.append(f"{p.slots} slots per ciphertext, expected the budget's")
    else:
        most = stack_factor(shape[0], p.slots) if stacked else 1
        if p.stack > most:
            problems.append(f"{p.stack} columns per ciphertext, at most {most} allowed")
    if problems:
        raise ProtocolViolationError(f"encrypted {what}: " + "; ".join(problems))
    return p


def quantize_bounded(
    values: npt.ArrayLike, bound: float, frac_bits: int, what: str, setting: str
) -> npt.NDArray[np.object_]:
    """`quantize`, with an error that names the `[train]` setting to change.

    Raises:
        EncodingBoundsError: NaN/inf, or a value outside ±bound.
    """
    try:
        return quantize(values, bound, frac_bits, what)
    except EncodingBoundsError as exc:
        raise EncodingBoundsError(
            f"{exc}: {_HINTS[setting]} {setting} in the label party's [train] section"
        ) from exc
