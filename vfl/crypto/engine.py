"""The Paillier engine: packed encryption, CRT decryption and the two homomorphic products.

Skeleton: the API is fixed; bodies land in the next commits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from vfl.crypto.keys import PrivateKey, PublicKey
from vfl.crypto.packing import PackedMatrix, ProductBudget

__all__ = ["PaillierEngine"]


class PaillierEngine:
    """Batch Paillier operations on packed matrices, over a process pool."""

    def __init__(
        self,
        public_key: PublicKey,
        private_key: PrivateKey | None = None,
        *,
        workers: int | None = None,
    ) -> None:
        self.public_key = public_key
        self.private_key = private_key
        self.workers = workers

    def encrypt(self, x: npt.ArrayLike, axis: int, budget: ProductBudget) -> PackedMatrix:
        """Encrypt floats x (rows×cols) packed along `axis`."""
        raise NotImplementedError

    def decrypt_ints(self, p: PackedMatrix) -> npt.NDArray[np.object_]:
        """Decrypt to the exact slot values (object array of Python ints)."""
        raise NotImplementedError

    def matmul(self, p: PackedMatrix, a: npt.ArrayLike) -> PackedMatrix:
        """[[X]]·A for X packed along axis 0 (rows×d), A d×h floats -> rows×h, axis 0."""
        raise NotImplementedError

    def tmatmul(self, p: PackedMatrix, a: npt.ArrayLike) -> PackedMatrix:
        """[[X]]ᵀ·A for X packed along axis 1 (B×d), A B×h floats -> d×h, axis 0."""
        raise NotImplementedError

    def add_ints(self, p: PackedMatrix, m: npt.ArrayLike) -> PackedMatrix:
        """Add non-negative Python ints (same shape) to every slot, budget-checked."""
        raise NotImplementedError

    def random_mask(self, shape: tuple[int, int], budget: ProductBudget) -> npt.NDArray[Any]:
        """CSPRNG ints in [0, 2^(value_bits+mask_bits)), object array of `shape`."""
        raise NotImplementedError

    def rerandomize(self, p: PackedMatrix) -> PackedMatrix:
        """Multiply every ciphertext by a fresh encryption of zero."""
        raise NotImplementedError

    def close(self) -> None:
        """Shut the worker pool down."""
