"""Wire form of a `PackedMatrix`: fixed-width big-endian ciphertexts plus small metadata.

`data` is the ciphertexts in `PackedMatrix` order, each exactly `ciphertext_bytes` (bytes
of n²) wide, big-endian, so the size of a message says nothing beyond the shape. `meta`
carries one fixed-point scale for the whole tensor (the frac bits of its budget; per-value
exponents would leak magnitudes, see phe's caveats) and the key fingerprint.

Received tensors are checked before use: fingerprint (`KeyMismatchError`), byte length and
count for the declared shape, and each ciphertext 0 < c < n² with gcd(c, n) = 1
(`CiphertextError`). A ciphertext altered in range passes these checks but fails the
packing check at decryption (`PaillierEngine.decrypt_ints`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gmpy2

from vfl.crypto._kernels import join_ints, split_ints
from vfl.crypto.keys import PublicKey
from vfl.crypto.packing import PackedMatrix, ProductBudget
from vfl.errors import CiphertextError, EncodingBoundsError, KeyMismatchError

__all__ = ["WireMeta", "from_wire", "to_wire"]


@dataclass(frozen=True)
class WireMeta:
    """Everything but the ciphertext bytes; the lead maps it to protobuf field by field.

    `slot_bound` is the sender's tracked upper bound of any slot value (it follows from the
    budget and the operations applied, never from the data).
    """

    rows: int
    cols: int
    axis: int
    x_bound: float
    a_bound: float
    n_terms: int
    x_frac_bits: int
    a_frac_bits: int
    mask_bits: int
    slots: int
    slot_bound: int
    fingerprint: str
    stack: int = 1

    @property
    def budget(self) -> ProductBudget:
        """The product budget the tensor was packed for."""
        return ProductBudget(
            x_bound=self.x_bound,
            a_bound=self.a_bound,
            n_terms=self.n_terms,
            x_frac_bits=self.x_frac_bits,
            a_frac_bits=self.a_frac_bits,
            mask_bits=self.mask_bits,
        )


def to_wire(p: PackedMatrix) -> tuple[bytes, WireMeta]:
    """Serialize: ciphertexts concatenated, each `ciphertext_bytes` wide, big-endian."""
    b = p.budget
    meta = WireMeta(
        rows=p.shape[0],
        cols=p.shape[1],
        axis=p.axis,
        x_bound=b.x_bound,
        a_bound=b.a_bound,
        n_terms=b.n_terms,
        x_frac_bits=b.x_frac_bits,
        a_frac_bits=b.a_frac_bits,
        mask_bits=b.mask_bits,
        slots=p.slots,
        slot_bound=p.slot_bound,
        fingerprint=p.fingerprint,
        stack=p.stack,
    )
    return join_ints(list(p.ciphertexts), p.ciphertext_bytes), meta


def from_wire(data: bytes, meta: WireMeta, public_key: PublicKey) -> PackedMatrix:
    """Parse and check received ciphertexts.

    Raises:
        KeyMismatchError: the tensor was made under another key.
        CiphertextError: wrong length for the shape, or a ciphertext outside (0, n²) or
            sharing a factor with n.
        EncodingBoundsError: the metadata itself is inconsistent (bad budget, axis, shape).
    """
    if meta.fingerprint != public_key.fingerprint:
        raise KeyMismatchError("received ciphertexts are under another key")
    budget = meta.budget
    slots = budget.slots_per_ciphertext(public_key)
    if meta.slots != slots or meta.rows < 1 or meta.cols < 1 or meta.axis not in (0, 1):
        raise EncodingBoundsError("ciphertext metadata is inconsistent with its budget")
    if meta.stack < 1 or (meta.stack > 1 and (meta.axis != 0 or meta.rows * meta.stack > slots)):
        raise EncodingBoundsError("ciphertext metadata: stacked columns do not fit")
    width = public_key.ciphertext_bytes
    length = (meta.rows, meta.cols)[meta.axis]
    other = (meta.rows, meta.cols)[1 - meta.axis]
    count = math.ceil(length / slots) * other
    if meta.stack > 1:
        count = math.ceil(meta.cols / meta.stack)
    if len(data) != count * width:
        raise CiphertextError(
            f"ciphertext payload has {len(data)} bytes, expected {count} × {width}"
        )
    cts = split_ints(data, width)
    n, n2 = gmpy2.mpz(public_key.n), gmpy2.mpz(public_key.nsquare)
    for c in cts:
        if not 0 < c < n2 or gmpy2.gcd(c, n) != 1:
            raise CiphertextError("a received ciphertext is out of range (not in Z*_{n²})")
    return PackedMatrix(
        shape=(meta.rows, meta.cols),
        axis=meta.axis,
        budget=budget,
        fingerprint=meta.fingerprint,
        ciphertexts=tuple(cts),
        slots=slots,
        slot_bound=meta.slot_bound,
        ciphertext_bytes=width,
        stack=meta.stack,
    )
