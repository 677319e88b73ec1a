"""Public parameters of one interactive layer, agreed by both sides at hello."""

from __future__ import annotations

from dataclasses import dataclass

from vfl.crypto import ProductBudget

__all__ = ["LayerSpec"]


@dataclass(frozen=True)
class LayerSpec:
    """Shape, bounds and fixed-point precision of one feature party's interactive layer.

    All of it is public: both sides derive the same three product budgets from it. Values
    outside the bounds are refused by the codec (a clear error, never a silent wrap), so the
    bounds double as a divergence check on training.

    Attributes:
        in_dim: embedding width d of the feature party's tower.
        out_dim: interactive width h (the shared latent space).
        batch_size: largest batch B.
        alpha_bound: largest |α| of an embedding entry.
        weight_bound: largest |entry| of the weight shares W̃ and E.
        grad_bound: largest |δ| entry, δ = ∂L/∂z.
        frac_bits: fixed-point fraction bits of every encoded quantity.
        mask_bits: statistical hiding of additive masks (at least 40).
        lr: learning rate of the interactive weights (plain SGD, which keeps the weight
            split W = W̃ + E exact under the noise that H folds in).
    """

    in_dim: int
    out_dim: int
    batch_size: int
    alpha_bound: float = 16.0
    weight_bound: float = 16.0
    grad_bound: float = 16.0
    frac_bits: int = 24
    mask_bits: int = 40
    lr: float = 0.05

    def forward_budget(self) -> ProductBudget:
        """[[α]]·W̃: α encrypted by H, W̃ scalars of G, d terms per output."""
        return self._budget(self.alpha_bound, self.weight_bound, self.in_dim)

    def backward_budget(self) -> ProductBudget:
        """[[α]]ᵀ·δ: α encrypted by H, δ scalars of G, B terms per output."""
        return self._budget(self.alpha_bound, self.grad_bound, self.batch_size)

    def cross_budget(self) -> ProductBudget:
        """[[E]]·δᵀ: H's noise share encrypted, δ scalars of G, h terms per output."""
        return self._budget(self.weight_bound, self.grad_bound, self.out_dim)

    def _budget(self, x_bound: float, a_bound: float, n_terms: int) -> ProductBudget:
        return ProductBudget(
            x_bound=x_bound,
            a_bound=a_bound,
            n_terms=n_terms,
            x_frac_bits=self.frac_bits,
            a_frac_bits=self.frac_bits,
            mask_bits=self.mask_bits,
        )
