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
DEFAULT_BUCKET_SIZE = 10_000
#: Enough buckets to keep both parties' threads busy (pipelining), each at least this big.
MIN_BUCKETS, MIN_BUCKET_SIZE = 16, 1_000


def bucket_count(largest_set: int, bucket_size: int = DEFAULT_BUCKET_SIZE) -> int:
    """Number of buckets: about `bucket_size` IDs of the largest party per bucket.

    Small sets still get up to `MIN_BUCKETS` buckets (of at least `MIN_BUCKET_SIZE`), so the
    two parties' work overlaps: while one side computes a bucket, the other computes the next.
    """
    by_size = math.ceil(largest_set / max(1, bucket_size))
    for_overlap = min(MIN_BUCKETS, largest_set // MIN_BUCKET_SIZE)
    return max(1, by_size, for_overlap)


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
