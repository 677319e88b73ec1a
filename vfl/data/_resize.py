"""Bring an image to the tower's input shape: centre crop/pad, or linear resampling."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["center_crop_or_pad", "resample"]


def center_crop_or_pad(image: NDArray[np.float32], shape: tuple[int, ...]) -> NDArray[np.float32]:
    """Centre-crop each axis that is too long and pad each that is too short.

    Padding uses the image's minimum (air or background), so no artificial edge appears.
    """
    out = image
    slices = []
    for size, want in zip(out.shape, shape, strict=True):
        start = max(0, (size - want) // 2)
        slices.append(slice(start, start + min(size, want)))
    out = out[tuple(slices)]
    pads = []
    for size, want in zip(out.shape, shape, strict=True):
        missing = max(0, want - size)
        pads.append((missing // 2, missing - missing // 2))
    if any(p != (0, 0) for p in pads):
        fill = float(out.min()) if out.size else 0.0
        out = np.pad(out, pads, mode="constant", constant_values=fill)
    return np.asarray(out, dtype=np.float32)


def resample(image: NDArray[np.float32], shape: tuple[int, ...]) -> NDArray[np.float32]:
    """Resample to exactly `shape` with (bi/tri)linear interpolation."""
    from scipy.ndimage import zoom

    factors = [want / size for size, want in zip(image.shape, shape, strict=True)]
    out = zoom(image.astype(np.float32), factors, order=1, mode="nearest", grid_mode=False)
    return center_crop_or_pad(np.asarray(out, dtype=np.float32), shape)
