"""The batch schedule every party agrees on: a seeded split and per-epoch shuffles.

Only the label party computes it; feature parties receive positions (0..n-1 in the shared
order), never IDs. The schedule is a pure function of (n_rows, seed, epoch), so a resumed run
replays exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Schedule"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Schedule:
    """Train/validation split and batches.

    Attributes:
        n_rows: aligned rows (positions 0..n_rows-1).
        batch_size: rows per batch (the last batch of an epoch may be shorter).
        seed: the run's shared seed.
        val_fraction: share of positions held out for validation (0 disables it).
    """

    n_rows: int
    batch_size: int
    seed: int
    val_fraction: float = 0.2

    def split(self) -> tuple[IntArray, IntArray]:
        """Sorted train and validation positions, drawn once from the seed."""
        rng = np.random.default_rng([self.seed, 0x5EED])
        order = rng.permutation(self.n_rows)
        n_val = int(round(self.n_rows * self.val_fraction))
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def train_batches(self, epoch: int) -> list[IntArray]:
        """The shuffled training batches of `epoch`."""
        train, _ = self.split()
        rng = np.random.default_rng([self.seed, epoch])
        return self._chunks(train[rng.permutation(train.size)])

    def val_batches(self) -> list[IntArray]:
        """Validation batches in position order."""
        return self._chunks(self.split()[1])

    def all_batches(self) -> list[IntArray]:
        """Every position in order (prediction)."""
        return self._chunks(np.arange(self.n_rows, dtype=np.int64))

    def _chunks(self, positions: IntArray) -> list[IntArray]:
        size = self.batch_size
        return [positions[i : i + size].astype(np.int64) for i in range(0, positions.size, size)]
