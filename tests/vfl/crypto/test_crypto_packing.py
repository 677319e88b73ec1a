from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vfl.crypto import (
    ProductBudget,
    decode,
    encode_scalars,
    encode_values,
    encryptor_side_correction,
    scalar_side_correction,
)
from vfl.crypto.packing import group_slots, pack_slots, ungroup_slots, unpack_slots
from vfl.errors import EncodingBoundsError

BUDGET = ProductBudget(x_bound=4.0, a_bound=2.0, n_terms=16, x_frac_bits=16, a_frac_bits=12)


def test_budget_derivation() -> None:
    b = BUDGET
    assert b.x_offset == 4 * 2**16 and b.a_offset == 2 * 2**12
    assert b.product_bound == 16 * (2 * b.x_offset) * (2 * b.a_offset)
    assert b.product_bound < 2**b.value_bits <= 2 * b.product_bound
    assert b.slot_bits == b.value_bits + 40 + 2
    # The proof in the module docstring: product + mask + one more addition < 2^slot_bits.
    worst = b.product_bound + (b.mask_limit - 1) + 2 ** (b.value_bits + b.mask_bits + 1) - 1
    assert worst < 2**b.slot_bits


def test_non_integer_bound_rounds_offset_up() -> None:
    b = ProductBudget(x_bound=0.3, a_bound=1.0, n_terms=1, x_frac_bits=3)
    assert b.x_offset == 3  # ceil(0.3 * 8) = ceil(2.4)
    enc = encode_values(np.array([[0.3, -0.3]]), b)
    assert enc.min() >= 0 and enc.max() <= 2 * b.x_offset


@pytest.mark.parametrize(
    "kwargs",
    [
        {"x_bound": 0.0},
        {"a_bound": float("inf")},
        {"n_terms": 0},
        {"mask_bits": 39},
        {"x_frac_bits": 60},
        {"x_bound": 2.0**40, "x_frac_bits": 30},
    ],
)
def test_invalid_budgets(kwargs: dict[str, float]) -> None:
    base: dict[str, float] = {"x_bound": 1.0, "a_bound": 1.0, "n_terms": 4}
    with pytest.raises(EncodingBoundsError):
        ProductBudget(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [4.0 + 1e-9, -4.000001, float("nan"), float("inf")])
def test_out_of_bound_values_are_refused(bad: float) -> None:
    with pytest.raises(EncodingBoundsError):
        encode_values(np.array([[0.0, bad]]), BUDGET)
    with pytest.raises(EncodingBoundsError):
        encode_scalars(np.array([[bad / 2]]), BUDGET)


def test_values_exactly_at_bounds_encode_to_the_range_ends() -> None:
    enc = encode_values(np.array([[-4.0, 4.0, 0.0]]), BUDGET)
    assert enc.tolist() == [[0, 2 * BUDGET.x_offset, BUDGET.x_offset]]
    sc = encode_scalars(np.array([[-2.0, 2.0]]), BUDGET)
    assert sc.tolist() == [[0, 2 * BUDGET.a_offset]]


@given(st.lists(st.integers(0, 2**50 - 1), min_size=1, max_size=12))
def test_pack_unpack_round_trip(values: list[int]) -> None:
    packed = pack_slots(values, 50)
    assert packed < 2 ** (50 * len(values))
    assert unpack_slots(packed, len(values), 50) == values


@given(
    st.integers(1, 9),
    st.integers(1, 9),
    st.sampled_from([0, 1]),
    st.integers(1, 5),
    st.data(),
)
def test_group_ungroup_round_trip(
    rows: int, cols: int, axis: int, slots: int, data: st.DataObject
) -> None:
    mat = np.array(
        data.draw(st.lists(st.integers(0, 999), min_size=rows * cols, max_size=rows * cols)),
        dtype=object,
    ).reshape(rows, cols)
    runs = group_slots(mat, axis, slots)
    length, other = (rows, cols) if axis == 0 else (cols, rows)
    assert len(runs) == -(-length // slots) * other
    assert all(1 <= len(r) <= slots for r in runs)
    assert (ungroup_slots(runs, (rows, cols), axis, slots) == mat).all()


floats_x = st.floats(-4.0, 4.0, allow_nan=False)
floats_a = st.floats(-2.0, 2.0, allow_nan=False)


@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 5)), elements=floats_x),
    st.data(),
)
def test_corrections_recover_the_offset_free_products(x: np.ndarray, data: st.DataObject) -> None:
    """Pure integer check of the correction formulas (no crypto)."""
    h = data.draw(st.integers(1, 4))
    for op, a_rows in (("matmul", x.shape[1]), ("tmatmul", x.shape[0])):
        a = data.draw(hnp.arrays(np.float64, (a_rows, h), elements=floats_a))
        ex, ea = encode_values(x, BUDGET), encode_scalars(a, BUDGET)
        raw = ex.dot(ea) if op == "matmul" else ex.T.dot(ea)
        assert raw.min() >= 0 and raw.max() <= BUDGET.product_bound
        exact = (
            raw
            - encryptor_side_correction(x, BUDGET, op)  # type: ignore[arg-type]
            - scalar_side_correction(a, BUDGET, op)  # type: ignore[arg-type]
        )
        xq = encode_values(x, BUDGET) - BUDGET.x_offset
        aq = encode_scalars(a, BUDGET) - BUDGET.a_offset
        assert (exact == (xq.dot(aq) if op == "matmul" else xq.T.dot(aq))).all()
        want = x @ a if op == "matmul" else x.T @ a
        terms = a_rows
        tol = terms * (4.0 * 2.0**-13 + 2.0 * 2.0**-17 + 2.0**-30) + 1e-9
        assert np.abs(decode(exact, BUDGET) - want).max() <= tol


def test_decode_scales_exact_ints() -> None:
    ints = np.array([[2**40, -(2**28)], [0, 3 * 2**27]], dtype=object)
    got = decode(ints, BUDGET)  # scale 2^-(16+12)
    assert got.dtype == np.float64
    assert got.tolist() == [[4096.0, -1.0], [0.0, 1.5]]


def test_slots_per_ciphertext_and_too_wide_budgets() -> None:
    class FakeKey:
        n = 2**2047 + 1

    b = ProductBudget(x_bound=8.0, a_bound=8.0, n_terms=32)
    assert b.slots_per_ciphertext(FakeKey()) == 2046 // b.slot_bits
    huge = ProductBudget(x_bound=1.0, a_bound=1.0, n_terms=10**600)

    class SmallKey:
        n = 2**1023 + 1

    with pytest.raises(EncodingBoundsError, match="does not fit"):
        huge.slots_per_ciphertext(SmallKey())


def test_packed_matrix_validates_its_layout() -> None:
    from vfl.crypto import PackedMatrix

    ok: dict[str, Any] = {
        "shape": (5, 2),
        "axis": 0,
        "budget": BUDGET,
        "fingerprint": "f",
        "ciphertexts": (1, 2, 3, 4),
        "slots": 3,
        "slot_bound": 1,
        "ciphertext_bytes": 8,
    }
    assert PackedMatrix(**ok).grid_shape == (2, 2)
    axis1 = {**ok, "axis": 1, "ciphertexts": tuple(range(5))}
    assert PackedMatrix(**axis1).grid_shape == (5, 1)
    for bad in ({"ciphertexts": (1, 2, 3)}, {"axis": 2}, {"slot_bound": 2**BUDGET.slot_bits}):
        with pytest.raises(EncodingBoundsError):
            PackedMatrix(**{**ok, **bad})


# ---- unmasked budgets and completed products (protocol version 2) ----------------------------

UNMASKED = ProductBudget(
    x_bound=8.0, a_bound=2.0, n_terms=6, x_frac_bits=10, a_frac_bits=9, mask_bits=0
)


def test_an_unmasked_budget_is_declared_with_zero_and_has_no_mask_room() -> None:
    assert UNMASKED.slot_bits == UNMASKED.value_bits + 2
    with pytest.raises(EncodingBoundsError, match="0 \\(no mask\\) or at least 40"):
        ProductBudget(x_bound=1.0, a_bound=1.0, n_terms=1, mask_bits=20)


@given(
    x=hnp.arrays(np.float64, (6, 3), elements=st.floats(-8.0, 8.0)),
    a=hnp.arrays(np.float64, (6, 4), elements=st.floats(-2.0, 2.0)),
    extra_frac=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1.0, 1.0)),
)
def test_completed_product_stays_in_its_slots_and_decodes_exactly(
    x: np.ndarray, a: np.ndarray, extra_frac: np.ndarray
) -> None:
    from vfl.crypto import completion_addend, completion_offset

    b = UNMASKED
    limit = b.n_terms * b.x_offset * b.a_offset
    extra = np.array([[int(v * limit) for v in row] for row in extra_frac], dtype=object)
    # Slot (j, k) of [[X]]ᵀ·A before completion, as the engine computes it in the exponent.
    raw = encode_values(x, b).T.dot(encode_scalars(a, b))
    slot = raw + completion_addend(a, b, "tmatmul", extra)
    values = [int(v) for v in slot.ravel()]
    assert min(values) >= 0 and max(values) < 2 * b.product_bound < 2**b.slot_bits
    # The key holder removes its own term and K: exactly the product plus the extra term.
    exact = slot - encryptor_side_correction(x, b, "tmatmul") - completion_offset(b)
    xq = np.rint(np.ldexp(x, b.x_frac_bits)).astype(np.int64).astype(object)
    aq = np.rint(np.ldexp(a, b.a_frac_bits)).astype(np.int64).astype(object)
    assert (exact == xq.T.dot(aq) + extra).all()


def test_a_completing_term_beyond_its_bound_is_refused() -> None:
    from vfl.crypto import completion_addend

    b = UNMASKED
    too_big = np.full((3, 4), b.n_terms * b.x_offset * b.a_offset + 1, dtype=object)
    with pytest.raises(EncodingBoundsError, match="completing term"):
        completion_addend(np.zeros((6, 4)), b, "tmatmul", too_big)
