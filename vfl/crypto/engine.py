"""The Paillier engine: packed encryption, CRT decryption and the two homomorphic products.

Cost per call (s slots per ciphertext, k = bits of n; "table product" = ceil(bits(r)/8)
modular multiplications from the fixed-base table: 72 modulo n² for a 2048-bit subgroup key
without the factors, 2 × 28 modulo p², q² for its key holder, 128 for a djn key; see
`vfl.crypto.keys` for the two schemes):

    encrypt(x rows×cols, axis)   one table product per ciphertext:
                                 ceil(rows/s)·cols (axis 0) or rows·ceil(cols/s) (axis 1)
    decrypt_ints                 two half-size powmods (CRT) per ciphertext, with 224-bit
                                 exponents ω_p, ω_q (subgroup key) or p - 1, q - 1 (djn)
    matmul([[X]] rows×d, A d×h)  ceil(rows/s)·h multi-exponentiations over d bases (shared
                                 squarings; tables shared by the h outputs of one chunk,
                                 see `_kernels.multi_exp_columns`) + as many table
                                 products (re-randomization)
    tmatmul([[X]] B×d, A B×h)    ceil(d/s)·h multi-exponentiations over B bases + as many
                                 table products
    stacked products             when the output columns are short (one chunk of r rows,
                                 up to k = floor(s/r) columns fit a plaintext), k columns
                                 may share a ciphertext: the bases are shifted once by t·r
                                 slots (t < k; (k-1)·r·slot-bits squarings each) and each
                                 output is one multi-exponentiation over k times the bases,
                                 so there are k times fewer outputs to re-randomize, send
                                 and decrypt. k is chosen by a cost model (`_stack_for`):
                                 shifting many bases for few outputs does not pay
    add_ints, random_mask        no exponentiation (one modular multiplication per ciphertext)
    rerandomize                  one table product per ciphertext

Every ciphertext this engine emits carries fresh randomness: encryptions use h_s^r with a
fresh r, and product outputs are re-randomized before they are returned (circuit privacy
towards the key holder, who knows the randomness of what it sent). There is no switch to
turn this off.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from vfl.crypto import _kernels
from vfl.crypto._kernels import KeyMaterial, join_ints, split_ints
from vfl.crypto._pool import KernelRunner
from vfl.crypto.keys import PrivateKey, PublicKey
from vfl.crypto.packing import (
    IntArray,
    PackedMatrix,
    ProductBudget,
    ProductOp,
    decode,
    encode_scalars,
    encode_values,
    encryptor_side_correction,
    group_slots,
    pack_slots,
    scalar_side_correction,
    stack_factor,
    ungroup_slots,
    unpack_slots,
)
from vfl.errors import CiphertextError, CryptoError, EncodingBoundsError, KeyMismatchError

__all__ = ["EngineStats", "PaillierEngine"]

logger = logging.getLogger(__name__)


@dataclass
class EngineStats:
    """Running totals: wall seconds per operation and seconds inside modular exponentiation.

    `modexp_seconds` sums the time workers spent in exponentiation (table products,
    multi-exponentiations, CRT powmods); with several workers it is CPU time, so compare it
    to `sum(seconds.values()) * workers`.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    ciphertexts: dict[str, int] = field(default_factory=dict)
    modexp_seconds: float = 0.0

    def record(self, op: str, seconds: float, count: int, modexp: float) -> None:
        """Add one call's figures."""
        self.seconds[op] = self.seconds.get(op, 0.0) + seconds
        self.ciphertexts[op] = self.ciphertexts.get(op, 0) + count
        self.modexp_seconds += modexp


class PaillierEngine:
    """Batch Paillier operations on packed matrices, over a process pool.

    Args:
        public_key: the key every ciphertext is under.
        private_key: only at the key holder; needed for `decrypt_ints`.
        workers: worker processes (default: the cores available; 1 runs in-process).

    Use as a context manager, or call `close()`, to stop the pool.
    """

    def __init__(
        self,
        public_key: PublicKey,
        private_key: PrivateKey | None = None,
        *,
        workers: int | None = None,
    ) -> None:
        if private_key is not None and private_key.public_key != public_key:
            raise KeyMismatchError("private key does not belong to this public key")
        self.public_key = public_key
        self.private_key = private_key
        orders = private_key.orders if private_key and private_key.orders else (0, 0)
        material = KeyMaterial(
            n=public_key.n,
            p=private_key.p if private_key else 0,
            q=private_key.q if private_key else 0,
            hs=public_key.hs or 0,
            randomizer_bits=public_key.randomizer_bits,
            wp=orders[0],
            wq=orders[1],
        )
        self._runner = KernelRunner(material, workers)
        self._width = public_key.ciphertext_bytes
        self.stats = EngineStats()

    @property
    def workers(self) -> int:
        """Number of worker processes (1: in-process)."""
        return self._runner.workers

    def __enter__(self) -> PaillierEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Shut the worker pool down (idempotent)."""
        self._runner.close()

    # -- batch plumbing ---------------------------------------------------------------

    def _batch(
        self, op: str, fn: Callable[..., tuple[bytes, float]], items: list[Any], *extra: Any
    ) -> list[Any]:
        t0 = time.perf_counter()
        tasks = [
            (join_ints([items[i] for i in part], self._width), *extra)
            for part in self._runner.split(len(items))
        ]
        results = self._runner.map(fn, tasks)
        out = [v for blob, _ in results for v in split_ints(blob, self._width)]
        elapsed = time.perf_counter() - t0
        self.stats.record(op, elapsed, len(items), sum(s for _, s in results))
        logger.debug("%s: %d ciphertexts in %.3f s", op, len(items), elapsed)
        return out

    def _check_key(self, p: PackedMatrix) -> None:
        if p.fingerprint != self.public_key.fingerprint:
            raise KeyMismatchError("ciphertexts are under another key (fingerprint differs)")

    # -- encryption and decryption ------------------------------------------------------

    def encrypt(self, x: npt.ArrayLike, axis: int, budget: ProductBudget) -> PackedMatrix:
        """Encrypt floats x (rows×cols) packed along `axis`, each slot holding x̂ + ox.

        Raises:
            EncodingBoundsError: a value is NaN/inf or outside ±x_bound, or x is not 2-D.
        """
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2 or axis not in (0, 1):
            raise EncodingBoundsError("encrypt takes a 2-D matrix and axis 0 or 1")
        slots = budget.slots_per_ciphertext(self.public_key)
        runs = group_slots(encode_values(arr, budget), axis, slots)
        plaintexts = [pack_slots(run, budget.slot_bits) for run in runs]
        cts = self._batch("encrypt", _kernels.encrypt_blob, plaintexts)
        return PackedMatrix(
            shape=(int(arr.shape[0]), int(arr.shape[1])),
            axis=axis,
            budget=budget,
            fingerprint=self.public_key.fingerprint,
            ciphertexts=tuple(cts),
            slots=slots,
            slot_bound=2 * budget.x_offset,
            ciphertext_bytes=self._width,
        )

    def decrypt_ints(self, p: PackedMatrix) -> IntArray:
        """Decrypt to the exact slot values (rows×cols object array of Python ints).

        Raises:
            CryptoError: this engine holds no private key.
            KeyMismatchError: `p` is under another key.
            CiphertextError: a plaintext does not fit the packing (tampered ciphertext or a
                slot above its tracked bound).
        """
        if self.private_key is None:
            raise CryptoError("decryption needs the private key, which this party does not hold")
        self._check_key(p)
        plaintexts = self._batch("decrypt", _kernels.decrypt_blob, list(p.ciphertexts))
        return self._unpack(p, plaintexts)

    def _unpack(self, p: PackedMatrix, plaintexts: list[Any]) -> IntArray:
        bits = p.budget.slot_bits
        length = p.shape[p.axis]
        runs = []
        for idx, m in enumerate(plaintexts):
            if p.stack > 1:
                used = p.shape[0] * min(p.stack, p.shape[1] - idx * p.stack)
            else:
                chunk = idx // p.grid_shape[1] if p.axis == 0 else idx % p.n_chunks
                used = min(p.slots, length - chunk * p.slots)
            run = unpack_slots(int(m), used, bits)
            if int(m) >> (used * bits) or max(run) > p.slot_bound:
                raise CiphertextError("a decrypted plaintext does not fit its packing: tampered?")
            runs.append(run)
        return ungroup_slots(runs, p.shape, p.axis, p.slots, p.stack)

    # -- homomorphic operations ---------------------------------------------------------

    def _product(self, op: ProductOp, p: PackedMatrix, a: npt.ArrayLike) -> PackedMatrix:
        self._check_key(p)
        if p.stack != 1:
            raise EncodingBoundsError("a stacked product output cannot be multiplied again")
        want_axis, summed = (0, p.shape[1]) if op == "matmul" else (1, p.shape[0])
        arr = np.asarray(a, dtype=np.float64)
        if p.axis != want_axis or arr.ndim != 2 or arr.shape[0] != summed:
            raise EncodingBoundsError(
                f"{op} needs [[X]] packed along axis {want_axis} and a scalar matrix with "
                f"{summed} rows; got axis {p.axis} and shape {arr.shape}"
            )
        budget = p.budget
        if summed > budget.n_terms:
            raise EncodingBoundsError(f"{summed} summed terms exceed n_terms={budget.n_terms}")
        bound = summed * p.slot_bound * 2 * budget.a_offset
        if bound >= 1 << budget.slot_bits:
            raise EncodingBoundsError("the product would overflow its slots")
        exps = [[int(v) for v in row] for row in encode_scalars(arr, budget)]
        grid = p.grid_shape
        if op == "matmul":
            groups = [list(p.ciphertexts[c * grid[1] : (c + 1) * grid[1]]) for c in range(grid[0])]
        else:
            groups = [list(p.ciphertexts[c :: grid[1]]) for c in range(grid[1])]
        out_rows = p.shape[0] if op == "matmul" else p.shape[1]
        stack = 1
        if len(groups) == 1:
            stack = self._stack_for(len(groups[0]), out_rows, len(exps[0]), p.slots, budget)
        if stack > 1:
            groups, exps = self._stacked(groups[0], exps, out_rows * budget.slot_bits, stack)
        cts = self._multi_exp(op, groups, exps)
        return PackedMatrix(
            shape=(out_rows, int(arr.shape[1])),
            axis=0,
            budget=budget,
            fingerprint=p.fingerprint,
            ciphertexts=tuple(cts),
            slots=p.slots,
            slot_bound=bound,
            ciphertext_bytes=self._width,
            stack=stack,
        )

    def _stack_for(
        self, n_bases: int, run: int, n_out: int, slots: int, budget: ProductBudget
    ) -> int:
        """Columns per output ciphertext that minimise the modular multiplications.

        Stacking k columns costs (k-1)·n_bases·run·slot_bits squarings (shifting the
        bases) and saves n_out - ceil(n_out/k) outputs, each costing its re-randomization
        (bits(r)/8 multiplications modulo n²) and the key holder's CRT decryption (two
        half-size powmods with exponents of e bits, about 0.8·e in multiplications modulo
        n²; e = |ω_p| for a subgroup key, bits(n)/2 for a djn key).
        """
        pk = self.public_key
        per_output = -(-pk.randomizer_bits // 8) + pk.decryption_exponent_bits * 4 // 5
        best, choice = 0, 1
        for k in range(2, stack_factor(run, slots) + 1):
            saved = (n_out - -(-n_out // k)) * per_output
            gain = saved - (k - 1) * n_bases * run * budget.slot_bits
            if gain > best:
                best, choice = gain, k
        return choice

    def _stacked(
        self, bases: list[Any], exps: list[list[int]], shift_bits: int, stack: int
    ) -> tuple[list[list[Any]], list[list[int]]]:
        """One group of stack·T bases, shifted by t·shift_bits for t < stack, and exponents.

        Output g's slot block t then holds output column g·stack + t.
        """
        shifted = list(bases)
        layer = list(bases)
        for _ in range(1, stack):
            layer = self._batch("shift", _kernels.shift_blob, layer, shift_bits)
            shifted.extend(layer)
        n_out = len(exps[0])
        groups_out = -(-n_out // stack)
        stacked_exps = [
            [row[g * stack + t] if g * stack + t < n_out else 0 for g in range(groups_out)]
            for t in range(stack)
            for row in exps
        ]
        return [shifted], stacked_exps

    def _multi_exp(self, op: str, groups: list[list[Any]], exps: list[list[int]]) -> list[Any]:
        t0 = time.perf_counter()
        h = len(exps[0])
        splits = max(1, min(h, -(-2 * self._runner.workers // len(groups))))
        step = -(-h // splits)
        spans = [(k, min(k + step, h)) for k in range(0, h, step)]
        tasks = [
            (join_ints(group, self._width), [row[lo:hi] for row in exps])
            for group in groups
            for lo, hi in spans
        ]
        results = self._runner.map(_kernels.product_blob, tasks)
        out = [v for blob, _ in results for v in split_ints(blob, self._width)]
        elapsed = time.perf_counter() - t0
        self.stats.record(op, elapsed, len(out), sum(s for _, s in results))
        logger.debug("%s: %d output ciphertexts in %.3f s", op, len(out), elapsed)
        return out

    def matmul(self, p: PackedMatrix, a: npt.ArrayLike) -> PackedMatrix:
        """[[X]]·A: X rows×d packed along axis 0, A d×h floats -> rows×h, axis 0.

        Slot (b, k) of the result holds Σ_j (x̂_bj + ox)(â_jk + oa); remove the offsets with
        `encryptor_side_correction` / `scalar_side_correction` (op "matmul"). The result is
        re-randomized.

        Raises:
            EncodingBoundsError: wrong axis/shape, scalars outside ±a_bound, more summed
                terms than the budget's n_terms, or a slot that could overflow.
            KeyMismatchError: `p` is under another key.
        """
        return self._product("matmul", p, a)

    def tmatmul(self, p: PackedMatrix, a: npt.ArrayLike) -> PackedMatrix:
        """[[X]]ᵀ·A: X B×d packed along axis 1, A B×h floats -> d×h, axis 0.

        Slot (j, k) holds Σ_b (x̂_bj + ox)(â_bk + oa) (op "tmatmul" corrections). The result
        is re-randomized. Raises as `matmul`.
        """
        return self._product("tmatmul", p, a)

    def add_ints(self, p: PackedMatrix, m: npt.ArrayLike) -> PackedMatrix:
        """Add non-negative Python ints m (same shape as p) slot-wise: c·(1 + M·n) mod n².

        Raises:
            EncodingBoundsError: shape differs, a value is negative or not an integer, or
                the sum could overflow a slot.
        """
        self._check_key(p)
        arr = np.asarray(m, dtype=object)
        if arr.shape != p.shape:
            raise EncodingBoundsError(f"addend shape {arr.shape} differs from {p.shape}")
        if not all(isinstance(v, int | np.integer) and v >= 0 for v in arr.ravel()):
            raise EncodingBoundsError("addends must be non-negative integers")
        bound = p.slot_bound + int(max(arr.ravel(), default=0))
        if bound >= 1 << p.budget.slot_bits:
            raise EncodingBoundsError("the addition would overflow a slot")
        n, n2 = self.public_key.n, self.public_key.nsquare
        runs = group_slots(arr, p.axis, p.slots, p.stack)
        cts = tuple(
            c * (1 + pack_slots(run, p.budget.slot_bits) * n) % n2
            for c, run in zip(p.ciphertexts, runs, strict=True)
        )
        return replace(p, ciphertexts=cts, slot_bound=bound)

    def random_mask(self, shape: tuple[int, int], budget: ProductBudget) -> IntArray:
        """CSPRNG (`secrets`) ints uniform in [0, 2^(value_bits + mask_bits)).

        Raises:
            EncodingBoundsError: the budget declares no mask (mask_bits = 0).
        """
        if budget.mask_bits == 0:
            raise EncodingBoundsError("this product budget declares no mask (mask_bits = 0)")
        limit = budget.mask_limit
        flat = [secrets.randbelow(limit) for _ in range(int(np.prod(shape)))]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(shape)

    def rerandomize(self, p: PackedMatrix) -> PackedMatrix:
        """Multiply every ciphertext by a fresh encryption of zero (same plaintexts)."""
        self._check_key(p)
        cts = self._batch("rerandomize", _kernels.rerandomize_blob, list(p.ciphertexts))
        return replace(p, ciphertexts=tuple(cts))

    # -- convenience --------------------------------------------------------------------

    def decrypt_product(
        self,
        p: PackedMatrix,
        x: npt.ArrayLike,
        a: npt.ArrayLike,
        op: ProductOp,
        mask: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.float64]:
        """Decrypt a product and remove mask and both offset corrections -> floats.

        A test and single-party helper: in the protocol each side removes only its own terms.
        """
        raw = self.decrypt_ints(p)
        if mask is not None:
            raw = raw - np.asarray(mask, dtype=object)
        budget = p.budget
        exact = (
            raw - encryptor_side_correction(x, budget, op) - scalar_side_correction(a, budget, op)
        )
        return decode(exact, budget)
