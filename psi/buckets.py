"""Split IDs into buckets with a keyed hash, so buckets can run concurrently.

The key is drawn per run by the label party: without it nobody can predict which bucket an ID
falls into, so bucket sizes reveal nothing linkable to a given ID across runs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

__all__ = ["DEFAULT_BUCKET_SIZE", "KEY_BYTES", "assign", "bucket_count"]

KEY_BYTES = 32
DEFAULT_BUCKET_SIZE = 25_000


def bucket_count(largest_set: int, bucket_size: int = DEFAULT_BUCKET_SIZE) -> int:
    """Number of buckets so the largest party holds about `bucket_size` IDs per bucket."""
    return max(1, math.ceil(largest_set / max(1, bucket_size)))


def assign(ids: Sequence[bytes], key: bytes, n_buckets: int) -> list[list[int]]:
    """Return, per bucket, the indices into `ids` that fall into it (ascending).

    The bucket of an ID is a keyed BLAKE2b-64 of its normalized bytes modulo `n_buckets`.
    """
    out: list[list[int]] = [[] for _ in range(n_buckets)]
    blake = hashlib.blake2b
    for i, item in enumerate(ids):
        h = int.from_bytes(blake(item, key=key, digest_size=8).digest(), "big")
        out[h % n_buckets].append(i)
    return out
