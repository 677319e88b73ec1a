"""Wire form of a `PackedMatrix`: fixed-width big-endian ciphertexts plus small metadata.

Skeleton: the API is fixed; bodies land in the next commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from vfl.crypto.keys import PublicKey
from vfl.crypto.packing import PackedMatrix

__all__ = ["WireMeta", "from_wire", "to_wire"]


@dataclass(frozen=True)
class WireMeta:
    """Everything but the ciphertext bytes; the lead maps it to protobuf field by field."""

    rows: int
    cols: int
    axis: int
    x_bound: float
    a_bound: float
    n_terms: int
    x_frac_bits: int
    a_frac_bits: int
    mask_bits: int
    slot_bound: int
    fingerprint: str


def to_wire(p: PackedMatrix) -> tuple[bytes, WireMeta]:
    """Serialize: ciphertexts concatenated, each `ciphertext_bytes` wide, big-endian."""
    raise NotImplementedError


def from_wire(data: bytes, meta: WireMeta, public_key: PublicKey) -> PackedMatrix:
    """Parse and check received ciphertexts (fingerprint, width, count, 0 < c < n²)."""
    raise NotImplementedError
