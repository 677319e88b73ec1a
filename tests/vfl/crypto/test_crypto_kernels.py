import gmpy2
from hypothesis import given, settings
from hypothesis import strategies as st

from vfl.crypto import PrivateKey, PublicKey, _multiexp
from vfl.crypto._kernels import KeyMaterial, Obfuscator
from vfl.crypto._multiexp import multi_exp_columns

MOD = gmpy2.mpz(2**127 - 1) * gmpy2.mpz(2**89 - 1)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 6),
    st.integers(0, 62),
    st.data(),
)
def test_multi_exp_matches_pow(n_bases: int, n_out: int, bits: int, data: st.DataObject) -> None:
    bases = [gmpy2.mpz(data.draw(st.integers(2, int(MOD) - 1))) for _ in range(n_bases)]
    exps = [[data.draw(st.integers(0, 2**bits - 1)) for _ in range(n_out)] for _ in bases]
    got = multi_exp_columns(bases, exps, MOD)
    for k in range(n_out):
        want = 1
        for b, row in zip(bases, exps, strict=True):
            want = want * pow(int(b), row[k], int(MOD)) % int(MOD)
        assert int(got[k]) == want


def test_both_layouts_are_exercised_and_agree() -> None:
    bases = [gmpy2.mpz(3 + i) for i in range(24)]
    exps = [[(i * 7919 + k * 104729) % 2**28 for k in range(3)] for i in range(24)]
    grouped = _multiexp._grouped(bases, exps, MOD, 6, 28)
    straus = _multiexp._straus(bases, exps, MOD, 4, 28)
    assert grouped == straus
    assert _multiexp._grouped_cost(8, 256, 32, 28) < min(
        _multiexp._straus_cost(w, 256, 32, 28) for w in range(1, 9)
    )


def test_obfuscator_gives_distinct_n_th_residues() -> None:
    p, q = 1000000007, 998244353
    n = p * q
    obf = Obfuscator(KeyMaterial(n=n))
    zs = {int(obf.zero()) for _ in range(20)}
    assert len(zs) == 20
    lam = (p - 1) * (q - 1)
    for z in zs:
        # an encryption of zero: z^lambda ≡ 1 (mod n²) and z ≢ 1 (mod n)
        assert pow(z, lam, n * n) == 1 and z % n != 1


def test_crt_obfuscator_gives_encryptions_of_zero() -> None:
    p, q = 1000000007, 998244353
    n = p * q
    obf = Obfuscator(KeyMaterial(n=n, p=p, q=q))
    lam = (p - 1) * (q - 1)
    zs = [int(obf.zero()) for _ in range(20)]
    assert len(set(zs)) == 20
    for z in zs:
        assert 0 < z < n * n and pow(z, lam, n * n) == 1 and z % n != 1


def test_key_material_repr_hides_the_factors() -> None:
    text = repr(KeyMaterial(n=1000000007 * 998244353, p=1000000007, q=998244353))
    assert "1000000007" not in text and "998244353" not in text


def test_subgroup_obfuscators_stay_in_the_published_subgroup(
    keypair: tuple[PublicKey, PrivateKey],
) -> None:
    """Subgroup keys: the key holder's and everyone else's encryptions of zero are powers of
    the published h_s, so raising them to ω = ω_p·ω_q gives 1 (the fast decryption relies on
    it); the other party's exponents have `randomizer_bits` bits."""
    pk, sk = keypair
    assert pk.hs is not None and sk.orders is not None
    wp, wq = sk.orders
    public = Obfuscator(KeyMaterial(n=pk.n, hs=pk.hs, randomizer_bits=pk.randomizer_bits))
    holder = Obfuscator(
        KeyMaterial(
            n=pk.n, p=sk.p, q=sk.q, hs=pk.hs, randomizer_bits=pk.randomizer_bits, wp=wp, wq=wq
        )
    )
    assert public.exp_bits == pk.randomizer_bits == (wp * wq).bit_length() + 128
    assert [len(t) for t in holder.tables] == [-(-wp.bit_length() // 8), -(-wq.bit_length() // 8)]
    zs = [int(obf.zero()) for obf in (public, holder) for _ in range(10)]
    assert len(set(zs)) == 20
    for z in zs:
        assert pow(z, wp * wq, pk.nsquare) == 1 and z % pk.n != 1
