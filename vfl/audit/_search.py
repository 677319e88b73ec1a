"""Find any of millions of short byte strings in megabytes of payload, fast and in bounded memory.

The needles (every encoding of every ID) are grouped by length; for each length the index keeps
a sorted array of 64-bit polynomial hashes and, alongside, which ID each needle came from: 8 + 4
bytes per needle instead of a Python object each. A payload is scanned in chunks: the hash of
every window of each needle length is computed with numpy by doubling (windows of 2^k bytes
combine into any length in O(log L) vector passes), looked up with one `searchsorted`, and
every hash hit is confirmed by comparing the actual bytes, so a hash collision can cost time
but never produce a false finding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from vfl.audit._needles import id_needles, needle_bytes

__all__ = ["Hit", "NeedleIndex"]

_BASE = 0x9E3779B97F4A7C15  # odd, so multiplication by it is invertible mod 2^64
_CHUNK = 1 << 18
_BUILD_BATCH = 4096

U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class Hit:
    """A confirmed occurrence: which ID (row in the input), which encoding, where."""

    id_row: int
    label: str
    offset: int


class NeedleIndex:
    """Hashed needles for a list of IDs, grouped by length.

    Args:
        ids: the IDs; a hit names the position of its ID in this sequence.
        min_length: needles shorter than this are not searched (too many chance matches in
            random ciphertext bytes); the count is kept in `short_needles`.
    """

    def __init__(self, ids: Sequence[str], *, min_length: int = 6) -> None:
        self._ids = ids
        self._needles = lru_cache(maxsize=1024)(id_needles)
        self._min = min_length
        self.short_needles = 0
        self.needle_count = 0
        self._hashes: dict[int, U64] = {}
        self._owners: dict[int, npt.NDArray[np.uint32]] = {}
        self._build()
        self._filter = _BitFilter(self.needle_count)
        for length, hashes in self._hashes.items():
            self._filter.add(hashes, length)

    @property
    def lengths(self) -> list[int]:
        """The distinct needle lengths searched."""
        return sorted(self._hashes)

    def find(self, payload: bytes, *, limit: int = 20) -> list[Hit]:
        """Return up to `limit` confirmed hits in `payload`, in offset order per length."""
        if not self._hashes or not payload:
            return []
        hits: list[Hit] = []
        longest = max(self._hashes)
        for start in range(0, len(payload), _CHUNK):
            window = payload[start : start + _CHUNK + longest - 1]
            for hit in self._find_chunk(window, start, min(_CHUNK, len(payload) - start)):
                hits.append(hit)
                if len(hits) >= limit:
                    return hits
        return hits

    def _build(self) -> None:
        parts: dict[int, list[tuple[U64, npt.NDArray[np.uint32]]]] = defaultdict(list)
        for first in range(0, len(self._ids), _BUILD_BATCH):
            rows = range(first, min(first + _BUILD_BATCH, len(self._ids)))
            for length, blob, owners in _batch_needles(self._ids, rows):
                if length < self._min:
                    self.short_needles += len(owners)
                    continue
                matrix = np.frombuffer(blob, dtype=np.uint8).reshape(-1, length)
                parts[length].append((_rows_hash(matrix), owners))
                self.needle_count += len(owners)
        for length, chunks in parts.items():
            all_hashes = np.concatenate([h for h, _ in chunks])
            all_owners = np.concatenate([o for _, o in chunks])
            order = np.argsort(all_hashes, kind="stable")
            self._hashes[length] = all_hashes[order]
            self._owners[length] = all_owners[order]

    def _find_chunk(self, data: bytes, base: int, own: int) -> Iterator[Hit]:
        """Hits whose window starts in data[:own] (the rest is overlap for the next chunk)."""
        arr = np.frombuffer(data, dtype=np.uint8)
        levels = _Levels(arr)
        for length in self.lengths:
            if length > len(arr):
                break
            windows = levels.windows(length)[:own]
            maybe = np.nonzero(self._filter.contains(windows, length))[0]
            if not len(maybe):
                continue
            table = self._hashes[length]
            pos = np.searchsorted(table, windows[maybe])
            hit = table[np.minimum(pos, len(table) - 1)] == windows[maybe]
            for offset, at in zip(maybe[hit].tolist(), pos[hit].tolist(), strict=True):
                yield from self._confirm(data, offset, length, at, base)

    def _confirm(self, data: bytes, offset: int, length: int, pos: int, base: int) -> Iterator[Hit]:
        table, owners = self._hashes[length], self._owners[length]
        target, piece = table[pos], data[offset : offset + length]
        reported: set[int] = set()
        while pos < len(table) and table[pos] == target:
            row = int(owners[pos])
            pos += 1
            if row in reported:
                continue
            for needle in self._needles(self._ids[row]):
                if needle.data == piece and needle.fits(data, offset):
                    reported.add(row)
                    yield Hit(id_row=row, label=needle.label, offset=base + offset)
                    break


def _batch_needles(
    ids: Sequence[str], rows: range
) -> Iterator[tuple[int, bytes, npt.NDArray[np.uint32]]]:
    """Yield (length, concatenated needles, owning row per needle) for one batch of IDs."""
    flat: list[bytes] = []
    counts: list[int] = []
    for row in rows:
        needles = needle_bytes(ids[row])
        flat += needles
        counts.append(len(needles))
    owners = np.repeat(np.asarray(rows, dtype=np.uint32), counts)
    lengths = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))
    for length in np.unique(lengths).tolist():
        picked = np.nonzero(lengths == length)[0]
        chosen = [flat[i] for i in picked.tolist()]
        yield length, b"".join(chosen), owners[picked]


class _Levels:
    """Hashes of all windows of length 2^k over one array, computed on demand."""

    def __init__(self, data: npt.NDArray[np.uint8]) -> None:
        self._levels: list[U64] = [data.astype(np.uint64)]

    def level(self, k: int) -> U64:
        while len(self._levels) <= k:
            prev, span = self._levels[-1], 1 << (len(self._levels) - 1)
            count = len(prev) - span
            self._levels.append(prev[:count] * _power(span) + prev[span : span + count])
        return self._levels[k]

    def windows(self, length: int) -> U64:
        """Hash of every window of `length` bytes (one per start offset)."""
        bits = [k for k in range(length.bit_length()) if length >> k & 1]
        top = bits.pop()
        acc, acc_len = self.level(top), 1 << top
        for k in reversed(bits):
            span = 1 << k
            count = len(acc) - span
            acc = acc[:count] * _power(span) + self.level(k)[acc_len : acc_len + count]
            acc_len += span
        return acc


class _BitFilter:
    """A one-hash Bloom filter over (hash, length): most windows are rejected with one lookup.

    Sized at about 32 bits per needle (at most 2^28 bits, 32 MiB), so a random window passes
    with probability ~3 %, and only those go on to the binary search.
    """

    def __init__(self, count: int) -> None:
        self._bits = min(28, max(16, (count * 32).bit_length()))
        self._shift = np.uint64(64 - self._bits)
        self._table = np.zeros(1 << (self._bits - 3), dtype=np.uint8)

    def _keys(self, hashes: U64, length: int) -> U64:
        mixed = hashes ^ np.uint64((length * _BASE) & ((1 << 64) - 1))
        return mixed >> self._shift

    def add(self, hashes: U64, length: int) -> None:
        keys = self._keys(hashes, length)
        masks = np.left_shift(np.uint8(1), (keys & np.uint64(7)).astype(np.uint8))
        np.bitwise_or.at(self._table, keys >> np.uint64(3), masks)

    def contains(self, hashes: U64, length: int) -> npt.NDArray[np.bool_]:
        keys = self._keys(hashes, length)
        bytes_: npt.NDArray[np.uint8] = self._table[keys >> np.uint64(3)]
        bits = (bytes_ >> (keys & np.uint64(7)).astype(np.uint8)) & np.uint8(1)
        return bits.astype(np.bool_)


@lru_cache(maxsize=64)
def _power(exponent: int) -> np.uint64:
    return np.uint64(pow(_BASE, exponent, 1 << 64))


def _rows_hash(matrix: npt.NDArray[np.uint8]) -> U64:
    """Polynomial hash of each row, identical to `_Levels.windows` on the same bytes."""
    acc = np.zeros(matrix.shape[0], dtype=np.uint64)
    base = np.uint64(_BASE)
    for col in range(matrix.shape[1]):
        acc = acc * base + matrix[:, col]
    return acc
