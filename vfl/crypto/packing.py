"""Fixed-point packing codec: many offset-encoded values per Paillier plaintext.

Encoding
    A value x with |x| <= x_bound becomes the integer x̂ = round(x·2^fx); the slot stores
    x̂ + ox with ox = ceil(x_bound·2^fx), so 0 <= x̂ + ox <= 2·ox. A scalar a with
    |a| <= a_bound becomes â = round(a·2^fa) and is used as the exponent â + oa with
    oa = ceil(a_bound·2^fa), so 0 <= â + oa <= 2·oa. Every homomorphic scalar is therefore a
    non-negative integer and no slot ever holds a negative number (no borrow from the next
    slot). The offsets are public; each side removes the offset terms it knows in plaintext
    (`encryptor_side_correction`, `scalar_side_correction`).

Slot budget (the proof that nothing overflows)
    Let T = n_terms, P = T·(2·ox)·(2·oa), value_bits = bit_length(P), so a product sum
    S = Σ_{t<T'} (x̂_t + ox)(â_t + oa) with T' <= T terms satisfies 0 <= S <= P < 2^value_bits.
    A budget with mask_bits = 0 declares a product whose sum the key holder may learn in
    full: no mask is ever added to it (`PaillierEngine.random_mask` refuses such a budget).
    Otherwise a statistical mask R is drawn uniformly from [0, 2^(value_bits + mask_bits)), so
    S + R < 2^value_bits + 2^(value_bits+mask_bits) <= 2^(value_bits+mask_bits+1); R hides S
    up to statistical distance P / 2^(value_bits+mask_bits) < 2^-mask_bits (40 bits default).
    With slot_bits = value_bits + mask_bits + 2 there is room for one more plaintext addition
    of up to 2^(value_bits+mask_bits+1) on top: 2^(vb+M+1) + 2^(vb+M+1) = 2^slot_bits.
    The engine does not rely on that arithmetic alone: every `PackedMatrix` carries
    `slot_bound`, the exact largest value any of its slots can hold, updated by each
    operation and checked to stay below 2^slot_bits before the operation runs.
    A plaintext holds s = floor((bits(n) - 1) / slot_bits) slots, so the packed plaintext is
    < 2^(bits(n)-1) < n and never wraps modulo n.

Slot order
    Slot i of a plaintext occupies bits [i·slot_bits, (i+1)·slot_bits): slot 0 is the least
    significant and holds the first entry of the run it packs.

Stacking
    A product whose output columns are shorter than a plaintext (rows·k <= slots for some
    k >= 2) packs k consecutive columns per ciphertext (`PackedMatrix.stack`), column t of
    the group at slots t·rows .. t·rows + rows - 1: k times fewer ciphertexts to
    re-randomize, send and decrypt (see `PaillierEngine` for how products are stacked).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from vfl.errors import EncodingBoundsError

__all__ = [
    "PackedMatrix",
    "stack_factor",
    "completion_addend",
    "completion_offset",
    "ProductBudget",
    "ProductOp",
    "decode",
    "encode_scalars",
    "encode_values",
    "encryptor_side_correction",
    "pack_slots",
    "quantize",
    "scalar_side_correction",
    "unpack_slots",
]

ProductOp = Literal["matmul", "tmatmul"]
IntArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]

_MIN_MASK_BITS = 40
_MAX_FRAC_BITS = 52


@dataclass(frozen=True)
class ProductBudget:
    """Declared bounds for one homomorphic product; every derived size follows from them.

    Attributes:
        x_bound: largest |x| of an encrypted value.
        a_bound: largest |a| of a plaintext scalar.
        n_terms: largest number of terms summed into one slot (d for `matmul`, B for
            `tmatmul`).
        x_frac_bits: fixed-point fraction bits of x (resolution 2^-fx).
        a_frac_bits: fixed-point fraction bits of a.
        mask_bits: statistical hiding of the masks added to results: at least 40, or 0 for
            a product the key holder may learn in full (no mask).
    """

    x_bound: float
    a_bound: float
    n_terms: int
    x_frac_bits: int = 24
    a_frac_bits: int = 24
    mask_bits: int = 40

    def __post_init__(self) -> None:
        problems = []
        for name in ("x_bound", "a_bound"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a positive finite number")
        if self.n_terms < 1:
            problems.append("n_terms must be at least 1")
        for name in ("x_frac_bits", "a_frac_bits"):
            if not 0 <= getattr(self, name) <= _MAX_FRAC_BITS:
                problems.append(f"{name} must lie in [0, {_MAX_FRAC_BITS}]")
        if self.mask_bits != 0 and self.mask_bits < _MIN_MASK_BITS:
            problems.append(f"mask_bits must be 0 (no mask) or at least {_MIN_MASK_BITS}")
        if not problems and max(self.x_offset, self.a_offset) >= 2**62:
            problems.append("bound·2^frac_bits must stay below 2^62")
        if problems:
            raise EncodingBoundsError("invalid product budget: " + "; ".join(problems))

    @property
    def x_offset(self) -> int:
        """Ox = ceil(x_bound·2^fx): added to every encoded value so slots are >= 0."""
        return int(math.ceil(Fraction(self.x_bound) * 2**self.x_frac_bits))

    @property
    def a_offset(self) -> int:
        """Oa = ceil(a_bound·2^fa): added to every scalar so exponents are >= 0."""
        return int(math.ceil(Fraction(self.a_bound) * 2**self.a_frac_bits))

    @property
    def product_bound(self) -> int:
        """P = n_terms·(2·ox)·(2·oa), the largest possible product sum in a slot."""
        return self.n_terms * (2 * self.x_offset) * (2 * self.a_offset)

    @property
    def value_bits(self) -> int:
        """Bits of P: every product sum is < 2^value_bits."""
        return self.product_bound.bit_length()

    @property
    def mask_limit(self) -> int:
        """Exclusive upper end of a statistical mask: 2^(value_bits + mask_bits)."""
        return 1 << (self.value_bits + self.mask_bits)

    @property
    def slot_bits(self) -> int:
        """Width of one slot: value_bits + mask_bits + 2 (see the module docstring)."""
        return self.value_bits + self.mask_bits + 2

    @property
    def scale_bits(self) -> int:
        """Fixed-point scale of a product: results are multiples of 2^-(fx+fa)."""
        return self.x_frac_bits + self.a_frac_bits

    def slots_per_ciphertext(self, public_key: Any) -> int:
        """Slots per plaintext under `public_key`: floor((bits(n) - 1) / slot_bits).

        Raises:
            EncodingBoundsError: if not even one slot fits.
        """
        slots = (int(public_key.n).bit_length() - 1) // self.slot_bits
        if slots < 1:
            raise EncodingBoundsError("the product budget does not fit one Paillier plaintext")
        return slots


def _check_bound(values: FloatArray, bound: float, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise EncodingBoundsError(f"{what} contains NaN or infinite values")
    if values.size and float(np.max(np.abs(values))) > bound:
        raise EncodingBoundsError(f"{what} exceeds its declared bound {bound}")


def quantize(values: npt.ArrayLike, bound: float, frac_bits: int, what: str = "value") -> IntArray:
    """Round `values` to fixed point: exact Python ints round(v·2^frac_bits), bounds checked.

    Raises:
        EncodingBoundsError: for NaN/inf or any |v| > bound.
    """
    arr = np.asarray(values, dtype=np.float64)
    _check_bound(arr, bound, what)
    ints: IntArray = np.rint(np.ldexp(arr, frac_bits)).astype(np.int64).astype(object)
    return ints


def encode_values(x: npt.ArrayLike, budget: ProductBudget) -> IntArray:
    """Encrypted-side encoding x̂ + ox, each in [0, 2·ox]."""
    ints: IntArray = quantize(x, budget.x_bound, budget.x_frac_bits, "encrypted values")
    return ints + budget.x_offset  # type: ignore[no-any-return]


def encode_scalars(a: npt.ArrayLike, budget: ProductBudget) -> IntArray:
    """Scalar-side encoding â + oa, each in [0, 2·oa] (the exponents of the products)."""
    ints: IntArray = quantize(a, budget.a_bound, budget.a_frac_bits, "plaintext scalars")
    return ints + budget.a_offset  # type: ignore[no-any-return]


def _as_2d(values: npt.ArrayLike, what: str) -> npt.NDArray[Any]:
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise EncodingBoundsError(f"{what} must be a 2-D matrix, got shape {arr.shape}")
    return arr


def encryptor_side_correction(x: npt.ArrayLike, budget: ProductBudget, op: ProductOp) -> IntArray:
    """Offset terms the encrypting party (who knows x) removes from a decrypted product.

    `matmul` (x: rows×d): oa·Σ_j x̂_bj, shape (rows, 1).
    `tmatmul` (x: B×d): oa·Σ_b x̂_bj, shape (d, 1).
    Both broadcast against the rows×h or d×h result.
    """
    xq = quantize(_as_2d(x, "x"), budget.x_bound, budget.x_frac_bits, "encrypted values")
    axis = 1 if op == "matmul" else 0
    sums = xq.sum(axis=axis, dtype=object)
    result: IntArray = (sums * budget.a_offset).reshape(-1, 1)
    return result


def scalar_side_correction(a: npt.ArrayLike, budget: ProductBudget, op: ProductOp) -> IntArray:
    """Offset terms the scalar party (who knows a) removes from a decrypted product.

    For both ops (a: d×h for `matmul`, B×h for `tmatmul`, summed over its first axis of
    length T'): ox·Σ_t â_tk + T'·ox·oa, shape (1, h).
    """
    aq = quantize(_as_2d(a, "a"), budget.a_bound, budget.a_frac_bits, "plaintext scalars")
    del op  # the same formula serves both products; kept for symmetry with the other side
    terms = aq.shape[0] * budget.x_offset * budget.a_offset
    result: IntArray = (aq.sum(axis=0, dtype=object) * budget.x_offset + terms).reshape(1, -1)
    return result


def completion_offset(budget: ProductBudget) -> int:
    """K = 3·T·ox·oa: the public constant that keeps a completed product's slots >= 0.

    See `completion_addend`; the key holder subtracts K after decryption.
    """
    return 3 * budget.n_terms * budget.x_offset * budget.a_offset


def completion_addend(
    a: npt.ArrayLike, budget: ProductBudget, op: ProductOp, extra: npt.ArrayLike
) -> IntArray:
    """What the scalar party adds to a product before it goes back to the key holder.

    The scalar party (who knows a but cannot decrypt) completes Σ (x̂ + ox)(â + oa) with a
    plaintext term of its own, `extra` (exact ints at scale 2^-(fx+fa), the product's shape),
    and removes its own offset terms, which would otherwise tell the key holder Σ_t â_t:

        addend = K + extra − (ox·Σ_t â_tk + T'·ox·oa),  K = `completion_offset(budget)`.

    Proof that no slot leaves [0, 2P) (P = 4·T·ox·oa, the budget's `product_bound`): the
    subtracted offsets are at most 2·T·ox·oa and |extra| <= T·ox·oa, so 0 <= addend <= P;
    the slot then holds K + Σ x̂â + oa·Σ_t x̂_t + extra, whose smallest value is
    K − T·ox·oa − 0 − T·ox·oa >= 0 and whose largest is the product's P plus the addend's P.
    The key holder subtracts its own term oa·Σ_t x̂_t (`encryptor_side_correction`) and K.

    Raises:
        EncodingBoundsError: |extra| exceeds T·ox·oa, or shapes do not broadcast.
    """
    limit = budget.n_terms * budget.x_offset * budget.a_offset
    extra_arr = np.asarray(extra, dtype=object)
    if extra_arr.size and max(abs(int(v)) for v in extra_arr.ravel()) > limit:
        raise EncodingBoundsError("the completing term exceeds T·ox·oa; raise the layer bounds")
    addend: IntArray = completion_offset(budget) + extra_arr - scalar_side_correction(a, budget, op)
    return addend


def decode(ints: npt.ArrayLike, budget: ProductBudget) -> FloatArray:
    """Exact product ints (offsets and masks removed) -> floats, scale 2^-(fx+fa)."""
    arr = np.asarray(ints, dtype=object)
    flat = [math.ldexp(float(v), -budget.scale_bits) for v in arr.ravel()]
    return np.array(flat, dtype=np.float64).reshape(arr.shape)


def pack_slots(values: Sequence[int], slot_bits: int) -> int:
    """Pack non-negative ints, each < 2^slot_bits, slot 0 least significant."""
    packed = 0
    for value in reversed(values):
        packed = (packed << slot_bits) | int(value)
    return packed


def unpack_slots(packed: int, count: int, slot_bits: int) -> list[int]:
    """Inverse of `pack_slots` for the first `count` slots."""
    mask = (1 << slot_bits) - 1
    return [(packed >> (i * slot_bits)) & mask for i in range(count)]


@dataclass(frozen=True)
class PackedMatrix:
    """[[X]]: a rows×cols matrix of slot values, packed along `axis`, encrypted.

    Layout (s = `slots` per ciphertext, nc = number of chunks along the packed axis):
        axis 0: nc = ceil(rows/s); `ciphertexts[c·cols + j]` holds rows c·s .. c·s+s-1 of
            column j (grid shape (nc, cols)).
        axis 1: nc = ceil(cols/s); `ciphertexts[i·nc + c]` holds columns c·s .. c·s+s-1 of
            row i (grid shape (rows, nc)).
        Slot t of a ciphertext holds the t-th entry of its run; a short last run leaves its
        upper slots at 0.

    Attributes:
        shape: (rows, cols) of the logical matrix.
        axis: 0 or 1, the packed axis.
        budget: the product budget the slots were sized for.
        fingerprint: the public key's fingerprint.
        ciphertexts: gmpy2 mpz ciphertexts in the order above.
        slots: s, slots per ciphertext.
        slot_bound: the largest value any slot can hold (tracked exactly; < 2^slot_bits).
        ciphertext_bytes: wire width of one ciphertext (bytes of n²).
        stack: columns per ciphertext (1: the plain layouts above).
    """

    shape: tuple[int, int]
    axis: int
    budget: ProductBudget
    fingerprint: str
    ciphertexts: tuple[Any, ...] = field(repr=False)
    slots: int
    slot_bound: int
    ciphertext_bytes: int
    stack: int = 1

    def __post_init__(self) -> None:
        if self.axis not in (0, 1):
            raise EncodingBoundsError("axis must be 0 or 1")
        if self.stack < 1 or (
            self.stack > 1 and (self.axis != 0 or self.shape[0] * self.stack > self.slots)
        ):
            raise EncodingBoundsError("stacked columns must be packed along axis 0 and fit")
        if len(self.ciphertexts) != math.prod(self.grid_shape):
            raise EncodingBoundsError("ciphertext count does not match shape and packing")
        if self.slot_bound >= 1 << self.budget.slot_bits:
            raise EncodingBoundsError("slot bound exceeds the slot width")

    @property
    def n_chunks(self) -> int:
        """Number of ciphertexts along the packed axis."""
        return -(-self.shape[self.axis] // self.slots)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Shape of the ciphertext grid (see the class docstring)."""
        rows, cols = self.shape
        if self.stack > 1:
            return (1, -(-cols // self.stack))
        return (self.n_chunks, cols) if self.axis == 0 else (rows, self.n_chunks)


def stack_factor(run_length: int, slots: int) -> int:
    """Columns of `run_length` values a product output stacks per ciphertext (1: none)."""
    return max(1, slots // run_length) if run_length <= slots else 1


def group_slots(values: IntArray, axis: int, slots: int, stack: int = 1) -> list[list[int]]:
    """Split a matrix of slot ints into per-ciphertext runs in `PackedMatrix` order."""
    if stack > 1:
        cols = values.shape[1]
        return [[int(v) for v in values[:, g : g + stack].T.ravel()] for g in range(0, cols, stack)]
    mat = values if axis == 0 else values.T
    length, other = mat.shape
    n_chunks = -(-length // slots)
    runs: list[list[int]] = []
    if axis == 0:
        for c in range(n_chunks):
            for j in range(other):
                runs.append([int(v) for v in mat[c * slots : (c + 1) * slots, j]])
    else:
        for j in range(other):
            for c in range(n_chunks):
                runs.append([int(v) for v in mat[c * slots : (c + 1) * slots, j]])
    return runs


def ungroup_slots(
    runs: Sequence[Sequence[int]], shape: tuple[int, int], axis: int, slots: int, stack: int = 1
) -> IntArray:
    """Inverse of `group_slots`: per-ciphertext runs back to a rows×cols object array."""
    rows, cols = shape
    if stack > 1:
        out = np.empty((rows, cols), dtype=object)
        for g, run in enumerate(runs):
            width = min(stack, cols - g * stack)
            block = np.array(list(run[: rows * width]), dtype=object).reshape(width, rows)
            out[:, g * stack : g * stack + width] = block.T
        return out
    length, other = (rows, cols) if axis == 0 else (cols, rows)
    n_chunks = -(-length // slots)
    mat = np.empty((length, other), dtype=object)
    for idx, run in enumerate(runs):
        c, j = (idx // other, idx % other) if axis == 0 else (idx % n_chunks, idx // n_chunks)
        size = min(slots, length - c * slots)
        mat[c * slots : c * slots + size, j] = list(run[:size])
    return mat if axis == 0 else mat.T.copy()
