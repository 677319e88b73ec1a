"""Whitened principal axes, fitted on one site's training rows (unsupervised, local)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Projection"]


def _top_axes(z: NDArray[np.float64], k: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Top-k right singular vectors of centred `z` and the scores' standard deviations.

    Works on the smaller Gram matrix (rows x rows for images with many pixels), which is far
    cheaper than a full SVD when k is small.
    """
    m, p = z.shape
    dof = max(m - 1, 1)
    if m < p:
        evals, evecs = np.linalg.eigh(z @ z.T)
        order = np.argsort(evals)[::-1][: min(k, m)]
        sing = np.sqrt(np.clip(evals[order], 0.0, None))
        axes = (z.T @ evecs[:, order]) / np.where(sing > 0, sing, 1.0)
        return axes.T, sing / np.sqrt(dof)
    evals, evecs = np.linalg.eigh(z.T @ z)
    order = np.argsort(evals)[::-1][: min(k, p)]
    return evecs[:, order].T, np.sqrt(np.clip(evals[order], 0.0, None) / dof)


@dataclass(frozen=True)
class Projection:
    """Whitened principal axes fitted on training rows: ``(x - center) @ axes.T``.

    Each axis is scaled so the training scores have unit variance, and its sign is fixed
    (largest weight positive) so a refit on the same rows gives the same projection.
    """

    center: tuple[float, ...]
    axes: tuple[tuple[float, ...], ...]

    def apply(self, flat: NDArray[np.float32]) -> NDArray[np.float32]:
        """Project rows of `flat` (n, p) to (n, k)."""
        centered = flat - np.asarray(self.center, dtype=np.float32)
        return np.asarray(centered @ np.asarray(self.axes, dtype=np.float32).T, dtype=np.float32)

    @classmethod
    def fit(cls, flat: NDArray[np.float32], k: int) -> Projection:
        """Fit the top-k axes of the rows of `flat`."""
        z = flat.astype(np.float64)
        center = z.mean(axis=0)
        axes, sd = _top_axes(z - center, k)
        k = axes.shape[0]
        signs = np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])
        axes = axes * (signs / np.where(sd > 0, sd, 1.0))[:, None]
        return cls(tuple(float(c) for c in center), tuple(tuple(float(w) for w in r) for r in axes))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"center": list(self.center), "axes": [list(r) for r in self.axes]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Projection:
        """Inverse of `to_dict`."""
        return cls(tuple(raw["center"]), tuple(tuple(r) for r in raw["axes"]))
