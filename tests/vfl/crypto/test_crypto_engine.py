import inspect

import numpy as np
import pytest
from crypto_helpers import product_tolerance, randomness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vfl.crypto import (
    PackedMatrix,
    PaillierEngine,
    PrivateKey,
    ProductBudget,
    PublicKey,
    _kernels,
    encode_values,
)
from vfl.errors import (
    CiphertextError,
    ConfigError,
    CryptoError,
    EncodingBoundsError,
    KeyMismatchError,
)

BUDGET = ProductBudget(x_bound=4.0, a_bound=2.0, n_terms=24)
CRYPTO = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
xs = st.floats(-4.0, 4.0, allow_nan=False)
as_ = st.floats(-2.0, 2.0, allow_nan=False)


def shapes(max_rows: int = 24, max_cols: int = 6) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(1, max_rows), st.integers(1, max_cols))


def assert_randomized(p: PackedMatrix, pk: PublicKey) -> None:
    assert all(int(c) % pk.n != 1 for c in p.ciphertexts)


@CRYPTO
@given(hnp.arrays(np.float64, shapes(), elements=xs), st.sampled_from([0, 1]))
def test_encrypt_decrypt_round_trip(engine: PaillierEngine, x: np.ndarray, axis: int) -> None:
    p = engine.encrypt(x, axis, BUDGET)
    assert p.shape == x.shape and p.axis == axis
    assert (engine.decrypt_ints(p) == encode_values(x, BUDGET)).all()


@CRYPTO
@given(hnp.arrays(np.float64, shapes(), elements=xs), st.data())
def test_matmul_matches_numpy(engine: PaillierEngine, x: np.ndarray, data: st.DataObject) -> None:
    a = data.draw(hnp.arrays(np.float64, (x.shape[1], data.draw(st.integers(1, 4))), elements=as_))
    y = engine.matmul(engine.encrypt(x, 0, BUDGET), a)
    assert y.shape == (x.shape[0], a.shape[1]) and y.axis == 0
    got = engine.decrypt_product(y, x, a, "matmul")
    assert np.abs(got - x @ a).max() <= product_tolerance(BUDGET, x.shape[1])


@CRYPTO
@given(hnp.arrays(np.float64, shapes(), elements=xs), st.data())
def test_tmatmul_matches_numpy(engine: PaillierEngine, x: np.ndarray, data: st.DataObject) -> None:
    a = data.draw(hnp.arrays(np.float64, (x.shape[0], data.draw(st.integers(1, 4))), elements=as_))
    y = engine.tmatmul(engine.encrypt(x, 1, BUDGET), a)
    assert y.shape == (x.shape[1], a.shape[1]) and y.axis == 0
    got = engine.decrypt_product(y, x, a, "tmatmul")
    assert np.abs(got - x.T @ a).max() <= product_tolerance(BUDGET, x.shape[0])


def test_products_at_the_bounds_with_full_masks(engine: PaillierEngine) -> None:
    """Every value and scalar at ±bound, n_terms terms, and the largest possible mask."""
    rng = np.random.default_rng(1)
    x = rng.choice([-4.0, 4.0], size=(23, BUDGET.n_terms))
    a = rng.choice([-2.0, 2.0], size=(BUDGET.n_terms, 3))
    x[:, :3] = 4.0
    a[:3, :] = 2.0  # hits the largest slot value 2ox·2oa for those terms
    y = engine.matmul(engine.encrypt(x, 0, BUDGET), a)
    mask = np.full(y.shape, BUDGET.mask_limit - 1, dtype=object)
    got = engine.decrypt_product(engine.add_ints(y, mask), x, a, "matmul", mask=mask)
    assert np.abs(got - x @ a).max() <= product_tolerance(BUDGET, BUDGET.n_terms)
    xt = rng.choice([-4.0, 4.0], size=(BUDGET.n_terms, 5))
    at = rng.choice([-2.0, 2.0], size=(BUDGET.n_terms, 2))
    z = engine.tmatmul(engine.encrypt(xt, 1, BUDGET), at)
    mask = engine.random_mask(z.shape, BUDGET)
    got = engine.decrypt_product(engine.add_ints(z, mask), xt, at, "tmatmul", mask=mask)
    assert np.abs(got - xt.T @ at).max() <= product_tolerance(BUDGET, BUDGET.n_terms)


def test_random_mask_range_and_freshness(engine: PaillierEngine) -> None:
    m1 = engine.random_mask((20, 20), BUDGET)
    m2 = engine.random_mask((20, 20), BUDGET)
    assert m1.dtype == object and m1.shape == (20, 20)
    assert all(0 <= int(v) < BUDGET.mask_limit for v in m1.ravel())
    assert max(int(v) for v in m1.ravel()) > BUDGET.mask_limit // 4  # uses the full range
    assert (m1 != m2).any()


def test_no_mask_is_drawn_for_an_unmasked_budget(engine: PaillierEngine) -> None:
    unmasked = ProductBudget(x_bound=1.0, a_bound=1.0, n_terms=4, mask_bits=0)
    with pytest.raises(EncodingBoundsError, match="declares no mask"):
        engine.random_mask((2, 2), unmasked)


def test_bounds_and_shapes_are_enforced(engine: PaillierEngine) -> None:
    x = np.zeros((4, 3))
    p0 = engine.encrypt(x, 0, BUDGET)
    with pytest.raises(EncodingBoundsError):
        engine.encrypt(np.full((2, 2), 4.5), 0, BUDGET)
    with pytest.raises(EncodingBoundsError):
        engine.matmul(p0, np.full((3, 2), 2.5))  # scalar out of bound
    with pytest.raises(EncodingBoundsError):
        engine.matmul(p0, np.zeros((4, 2)))  # wrong inner size
    with pytest.raises(EncodingBoundsError):
        engine.tmatmul(p0, np.zeros((4, 2)))  # wrong axis
    big = engine.encrypt(np.zeros((2, BUDGET.n_terms + 1)), 0, BUDGET)
    with pytest.raises(EncodingBoundsError, match="n_terms"):
        engine.matmul(big, np.zeros((BUDGET.n_terms + 1, 1)))
    y = engine.matmul(p0, np.zeros((3, 2)))
    with pytest.raises(EncodingBoundsError, match="overflow"):
        engine.add_ints(y, np.full((4, 2), 2**BUDGET.slot_bits - y.slot_bound, dtype=object))
    top = engine.add_ints(y, np.full((4, 2), 2**BUDGET.slot_bits - y.slot_bound - 1, dtype=object))
    assert top.slot_bound == 2**BUDGET.slot_bits - 1
    assert (
        engine.decrypt_ints(top)
        == 2**BUDGET.slot_bits - 1 - y.slot_bound + 3 * BUDGET.x_offset * BUDGET.a_offset
    ).all()
    with pytest.raises(EncodingBoundsError):
        engine.add_ints(y, np.full((4, 2), -1, dtype=object))
    with pytest.raises(EncodingBoundsError):
        engine.add_ints(y, np.zeros((2, 4), dtype=object))
    masked = engine.add_ints(y, engine.random_mask(y.shape, BUDGET))
    with pytest.raises(EncodingBoundsError, match="overflow"):
        engine.matmul(
            engine.add_ints(p0, np.full((4, 3), 2 ** (BUDGET.slot_bits - 20), dtype=object)),
            np.ones((3, 1)),
        )
    assert masked.slot_bound < 2**BUDGET.slot_bits


def test_every_emitted_ciphertext_is_randomized(
    engine: PaillierEngine, keypair: tuple[PublicKey, PrivateKey]
) -> None:
    pk, _ = keypair
    zeros = np.full((20, 4), -4.0)  # every slot encodes 0: plaintext 0
    outs = [engine.encrypt(zeros, 0, BUDGET), engine.encrypt(zeros, 1, BUDGET)]
    outs.append(engine.matmul(outs[0], np.zeros((4, 2))))
    outs.append(engine.tmatmul(outs[1], np.full((20, 2), -2.0)))
    outs.append(engine.add_ints(outs[2], np.zeros((20, 2), dtype=object)))
    outs.append(engine.rerandomize(outs[0]))
    for p in outs:
        assert_randomized(p, pk)


def test_same_values_encrypt_differently(engine: PaillierEngine) -> None:
    x = np.ones((5, 2))
    a, b = engine.encrypt(x, 0, BUDGET), engine.encrypt(x, 0, BUDGET)
    assert all(ca != cb for ca, cb in zip(a.ciphertexts, b.ciphertexts, strict=True))
    assert (engine.decrypt_ints(a) == engine.decrypt_ints(b)).all()


def test_obfuscation_has_no_off_switch() -> None:
    """No public parameter or attribute can turn randomization off."""
    for name, member in inspect.getmembers(PaillierEngine, callable):
        if name.startswith("_") and name != "__init__":
            continue
        params = set(inspect.signature(member).parameters)
        assert not any(w in p for p in params for w in ("obfusc", "random", "secure", "raw"))
    public = {n for n in dir(PaillierEngine) if not n.startswith("_")}
    assert not any("obfusc" in n or "unsafe" in n for n in public)


def test_rerandomize_keeps_plaintexts(engine: PaillierEngine) -> None:
    p = engine.encrypt(np.eye(3), 1, BUDGET)
    q = engine.rerandomize(p)
    assert set(p.ciphertexts).isdisjoint(q.ciphertexts)
    assert (engine.decrypt_ints(p) == engine.decrypt_ints(q)).all()


def test_product_randomness_is_fresh(
    engine: PaillierEngine, keypair: tuple[PublicKey, PrivateKey]
) -> None:
    """Circuit privacy: the key holder recovers each randomness rho and finds the result's
    rho unrelated to the product of the inputs' rho raised to the (secret) scalars."""
    pk, sk = keypair
    x = np.array([[0.5, -1.0, 2.0]] * 4)
    a = np.array([[1.0], [-0.5], [0.25]])
    p = engine.encrypt(x, 0, BUDGET)
    exps = [int(round(v * 2**24)) + BUDGET.a_offset for v in a[:, 0]]
    expected_rho = 1
    for c, e in zip(p.ciphertexts, exps, strict=True):
        expected_rho = expected_rho * pow(randomness(c, sk), e, pk.n) % pk.n
    y1, y2 = engine.matmul(p, a), engine.matmul(p, a)
    rho1, rho2 = randomness(y1.ciphertexts[0], sk), randomness(y2.ciphertexts[0], sk)
    assert rho1 != expected_rho and rho2 != expected_rho and rho1 != rho2
    # The recovery itself is right: the plain product of the ciphertexts has exactly that rho.
    plain = 1
    for c, e in zip(p.ciphertexts, exps, strict=True):
        plain = plain * pow(int(c), e, pk.nsquare) % pk.nsquare
    assert randomness(plain, sk) == expected_rho
    assert (engine.decrypt_ints(y1) == engine.decrypt_ints(y2)).all()


def test_key_mismatch_and_missing_private_key(
    engine: PaillierEngine,
    keypair: tuple[PublicKey, PrivateKey],
    other_keypair: tuple[PublicKey, PrivateKey],
) -> None:
    with PaillierEngine(other_keypair[0], workers=1) as other:
        foreign = other.encrypt(np.zeros((2, 2)), 0, BUDGET)
        with pytest.raises(CryptoError, match="private key"):
            other.decrypt_ints(foreign)
    for op in (engine.decrypt_ints, engine.rerandomize):
        with pytest.raises(KeyMismatchError):
            op(foreign)
    with pytest.raises(KeyMismatchError):
        engine.matmul(foreign, np.zeros((2, 1)))
    with pytest.raises(KeyMismatchError):
        PaillierEngine(keypair[0], other_keypair[1])
    # A foreign ciphertext relabelled with our fingerprint fails the packing check.
    forged = PackedMatrix(
        shape=foreign.shape,
        axis=0,
        budget=BUDGET,
        fingerprint=keypair[0].fingerprint,
        ciphertexts=foreign.ciphertexts,
        slots=foreign.slots,
        slot_bound=foreign.slot_bound,
        ciphertext_bytes=foreign.ciphertext_bytes,
    )
    with pytest.raises(CiphertextError):
        engine.decrypt_ints(forged)


def test_pool_of_two_workers_gives_the_same_results(
    keypair: tuple[PublicKey, PrivateKey],
) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-4, 4, (40, 6))
    a = rng.uniform(-2, 2, (6, 5))
    at = rng.uniform(-2, 2, (40, 3))
    budget = ProductBudget(x_bound=4.0, a_bound=2.0, n_terms=40)
    with PaillierEngine(*keypair, workers=2) as eng:
        assert eng.workers == 2
        y = eng.matmul(eng.encrypt(x, 0, budget), a)
        z = eng.tmatmul(eng.encrypt(x, 1, budget), at)
        assert np.abs(eng.decrypt_product(y, x, a, "matmul") - x @ a).max() <= product_tolerance(
            budget, 6
        )
        got = eng.decrypt_product(z, x, at, "tmatmul")
        assert np.abs(got - x.T @ at).max() <= product_tolerance(budget, 40)
        assert eng.stats.modexp_seconds > 0 and eng.stats.ciphertexts["encrypt"] > 0


def test_invalid_worker_count(keypair: tuple[PublicKey, PrivateKey]) -> None:
    with pytest.raises(ConfigError, match="workers"):
        PaillierEngine(keypair[0], workers=0)


def test_real_2048_bit_key_products(keypair_2048: tuple[PublicKey, PrivateKey]) -> None:
    rng = np.random.default_rng(4)
    budget = ProductBudget(x_bound=8.0, a_bound=8.0, n_terms=32)
    x = rng.uniform(-8, 8, (21, 4))
    x[0, :] = 8.0
    a = rng.uniform(-8, 8, (4, 2))
    with PaillierEngine(*keypair_2048, workers=1) as eng:
        assert budget.slots_per_ciphertext(keypair_2048[0]) >= 19
        y = eng.matmul(eng.encrypt(x, 0, budget), a)
        assert_randomized(y, keypair_2048[0])
        got = eng.decrypt_product(y, x, a, "matmul")
        assert np.abs(got - x @ a).max() <= product_tolerance(budget, 4)


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float64, shapes(40, 8), elements=st.floats(-8, 8)), st.data())
def test_real_2048_bit_key_property(
    keypair_2048: tuple[PublicKey, PrivateKey],
    x: np.ndarray,
    data: st.DataObject,
) -> None:
    budget = ProductBudget(x_bound=8.0, a_bound=8.0, n_terms=40)
    a = data.draw(hnp.arrays(np.float64, (x.shape[1], 3), elements=st.floats(-8, 8)))
    at = data.draw(hnp.arrays(np.float64, (x.shape[0], 2), elements=st.floats(-8, 8)))
    with PaillierEngine(*keypair_2048, workers=1) as eng:
        got = eng.decrypt_product(eng.matmul(eng.encrypt(x, 0, budget), a), x, a, "matmul")
        assert np.abs(got - x @ a).max() <= product_tolerance(budget, x.shape[1])
        z = eng.tmatmul(eng.encrypt(x, 1, budget), at)
        got = eng.decrypt_product(z, x, at, "tmatmul")
        assert np.abs(got - x.T @ at).max() <= product_tolerance(budget, x.shape[0])


def test_public_only_and_key_holder_encryptions_agree(
    engine: PaillierEngine, keypair: tuple[PublicKey, PrivateKey]
) -> None:
    """The key holder encrypts through the CRT tables, others modulo n²: same plaintexts."""
    x = np.linspace(-4, 4, 26).reshape(13, 2)
    with PaillierEngine(keypair[0], workers=1) as public_only:
        theirs = public_only.encrypt(x, 0, BUDGET)
        rerandomized = public_only.rerandomize(engine.encrypt(x, 0, BUDGET))
    assert_randomized(theirs, keypair[0])
    holder_state = _kernels._STATE[(keypair[0].n, True)]
    public_state = _kernels._STATE[(keypair[0].n, False)]
    # Both draw from the published base h_s: the key holder's table is h_s mod p².
    hs = keypair[0].hs
    assert hs is not None
    assert public_state.obfuscator.tables[0][0][1] == hs
    assert holder_state.obfuscator.tables[0][0][1] == hs % keypair[1].p ** 2
    assert (engine.decrypt_ints(theirs) == encode_values(x, BUDGET)).all()
    assert (engine.decrypt_ints(rerandomized) == encode_values(x, BUDGET)).all()


# ---- stacked products: short output columns share a ciphertext ------------------------------

UNMASKED = ProductBudget(x_bound=4.0, a_bound=2.0, n_terms=8, mask_bits=0)


@pytest.mark.parametrize("op", ["matmul", "tmatmul"])
@pytest.mark.parametrize("n_out", [1, 41])
def test_short_output_columns_are_stacked_when_it_pays_and_exact(
    engine: PaillierEngine, op: str, n_out: int
) -> None:
    from vfl.crypto.packing import stack_factor

    rng = np.random.default_rng(n_out)
    rows = 3  # the output's column length; two bases, so shifting them is cheap
    if op == "matmul":
        x, axis = rng.uniform(-4, 4, (rows, 2)), 0  # [[X]] 3×2 along rows: one chunk
        a = rng.uniform(-2, 2, (2, n_out))
        y, expected = engine.matmul(engine.encrypt(x, axis, UNMASKED), a), x @ a
    else:
        x, axis = rng.uniform(-4, 4, (2, rows)), 1  # [[X]] 2×3 along columns: one chunk
        a = rng.uniform(-2, 2, (2, n_out))
        y, expected = engine.tmatmul(engine.encrypt(x, axis, UNMASKED), a), x.T @ a
    assert y.shape == (rows, n_out)
    if n_out == 1:
        assert y.stack == 1  # nothing to save
    else:
        assert 2 <= y.stack <= stack_factor(rows, y.slots)
    assert len(y.ciphertexts) == -(-n_out // y.stack)  # `stack` columns per ciphertext
    assert_randomized(y, engine.public_key)
    got = engine.decrypt_product(y, x, a, op)  # type: ignore[arg-type]
    assert np.abs(got - expected).max() <= product_tolerance(UNMASKED, 2)
    # Plaintext additions land in the right column of the right ciphertext.
    add = np.arange(rows * n_out, dtype=np.int64).reshape(rows, n_out).astype(object)
    raw = engine.decrypt_ints(y)
    assert (engine.decrypt_ints(engine.add_ints(y, add)) == raw + add).all()


def test_stacking_many_bases_for_few_outputs_does_not_pay(engine: PaillierEngine) -> None:
    # The weight-gradient shape of a narrow layer: 128 bases, 8 outputs of 8 rows.
    wide = ProductBudget(x_bound=4.0, a_bound=2.0, n_terms=128, mask_bits=0)
    y = engine.tmatmul(engine.encrypt(np.ones((128, 8)), 1, wide), np.ones((128, 8)))
    assert y.stack == 1


def test_a_stacked_ciphertext_with_garbage_beyond_its_columns_is_refused(
    djn_engine: PaillierEngine,
) -> None:
    engine = djn_engine  # a djn key's outputs cost more, so three columns stack here
    x = np.ones((2, 3))
    y = engine.tmatmul(engine.encrypt(x, 1, UNMASKED), np.ones((2, 3)))  # 3 columns
    assert y.stack >= 3 and len(y.ciphertexts) == 1
    # Add a value in the slot block past the third column: the packing check fails.
    n, n2 = engine.public_key.n, engine.public_key.nsquare
    shift = 3 * 3 * UNMASKED.slot_bits
    forged = (int(y.ciphertexts[0]) * (1 + (1 << shift) * n)) % n2
    bad = PackedMatrix(
        shape=y.shape,
        axis=0,
        budget=y.budget,
        fingerprint=y.fingerprint,
        ciphertexts=(forged,),
        slots=y.slots,
        slot_bound=y.slot_bound,
        ciphertext_bytes=y.ciphertext_bytes,
        stack=y.stack,
    )
    with pytest.raises(CiphertextError, match="does not fit"):
        engine.decrypt_ints(bad)


def test_stacked_outputs_round_trip_the_wire_and_bad_stacks_are_refused(
    engine: PaillierEngine,
) -> None:
    from dataclasses import replace

    from vfl.crypto import from_wire, to_wire

    y = engine.tmatmul(engine.encrypt(np.ones((2, 3)), 1, UNMASKED), np.ones((2, 5)))
    assert y.stack >= 2
    data, meta = to_wire(y)
    back = from_wire(data, meta, engine.public_key)
    assert back.stack == y.stack and (engine.decrypt_ints(back) == engine.decrypt_ints(y)).all()
    for bad in (replace(meta, stack=0), replace(meta, stack=y.slots), replace(meta, axis=1)):
        with pytest.raises((EncodingBoundsError, CiphertextError)):
            from_wire(data, bad, engine.public_key)
    with pytest.raises(EncodingBoundsError, match="cannot be multiplied again"):
        engine.matmul(y, np.ones((5, 1)))


# ---- the two key schemes ------------------------------------------------------------------


def test_djn_keys_work_with_a_base_of_each_process(
    djn_keypair: tuple[PublicKey, PrivateKey],
) -> None:
    """djn keys publish no base: each process draws its own, and every operation still
    decrypts exactly (with exponents p - 1 and q - 1)."""
    pk, sk = djn_keypair
    x = np.linspace(-4, 4, 26).reshape(13, 2)
    a = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -2.0]])
    with (
        PaillierEngine(pk, sk, workers=1) as holder,
        PaillierEngine(pk, workers=1) as public_only,
    ):
        theirs = public_only.encrypt(x, 0, BUDGET)
        product = public_only.matmul(holder.encrypt(x, 0, BUDGET), a)
        assert (holder.decrypt_ints(theirs) == encode_values(x, BUDGET)).all()
        got = holder.decrypt_product(product, x, a, "matmul")
        assert np.abs(got - x @ a).max() <= product_tolerance(BUDGET, 2)
    holder_state = _kernels._STATE[(pk.n, True)]
    public_state = _kernels._STATE[(pk.n, False)]
    assert holder_state.obfuscator.tables[0][0][1] != public_state.obfuscator.tables[0][0][1] % (
        sk.p**2
    )
    assert public_state.obfuscator.exp_bits == 512


def test_subgroup_products_decrypt_with_phe_as_well(
    engine: PaillierEngine, keypair: tuple[PublicKey, PrivateKey]
) -> None:
    """Subgroup ciphertexts are ordinary Paillier ciphertexts: phe's decryption (exponents
    p - 1, q - 1) and the engine's fast one (ω_p, ω_q) agree on fresh and product outputs."""
    pk, sk = keypair
    x = np.linspace(-4, 4, 26).reshape(13, 2)
    with PaillierEngine(pk, workers=1) as public_only:
        outputs = [
            engine.encrypt(x, 0, BUDGET),
            public_only.matmul(engine.encrypt(x, 0, BUDGET), np.ones((2, 3))),
        ]
    for p in outputs:
        theirs = [sk.phe.raw_decrypt(int(c)) for c in p.ciphertexts]
        fast = engine._batch("decrypt", _kernels.decrypt_blob, list(p.ciphertexts))
        assert [int(m) for m in fast] == theirs
