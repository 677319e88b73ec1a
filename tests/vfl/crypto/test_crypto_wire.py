from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vfl.crypto import (
    PaillierEngine,
    PrivateKey,
    ProductBudget,
    PublicKey,
    encode_values,
    from_wire,
    to_wire,
)
from vfl.crypto.wire import WireMeta
from vfl.errors import CiphertextError, EncodingBoundsError, KeyMismatchError

BUDGET = ProductBudget(x_bound=4.0, a_bound=2.0, n_terms=16)
Wire = tuple[bytes, WireMeta]
Keys = tuple[PublicKey, PrivateKey]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.integers(1, 5)),
        elements=st.floats(-4, 4),
    ),
    st.sampled_from([0, 1]),
)
def test_wire_round_trip(
    engine: PaillierEngine, keypair: tuple[PublicKey, PrivateKey], x: np.ndarray, axis: int
) -> None:
    pk, _ = keypair
    p = engine.encrypt(x, axis, BUDGET)
    data, meta = to_wire(p)
    assert len(data) == len(p.ciphertexts) * pk.ciphertext_bytes
    assert meta.fingerprint == pk.fingerprint and (meta.rows, meta.cols) == x.shape
    back = from_wire(data, meta, pk)
    assert back == p
    assert (engine.decrypt_ints(back) == encode_values(x, BUDGET)).all()


@pytest.fixture
def wire(engine: PaillierEngine) -> tuple[bytes, WireMeta]:
    return to_wire(engine.encrypt(np.ones((12, 3)), 0, BUDGET))


def test_truncated_and_padded_payloads(wire: Wire, keypair: Keys) -> None:
    data, meta = wire
    for bad in (data[:-1], data[:-256], data + b"\x00", b""):
        with pytest.raises(CiphertextError, match="bytes"):
            from_wire(bad, meta, keypair[0])


def test_out_of_range_ciphertexts(wire: Wire, keypair: Keys) -> None:
    data, meta = wire
    pk = keypair[0]
    width = pk.ciphertext_bytes
    for value in (0, pk.nsquare, 2 ** (8 * width) - 1, pk.n, 2 * pk.n):
        bad = value.to_bytes(width, "big") + data[width:]
        with pytest.raises(CiphertextError, match="range"):
            from_wire(bad, meta, pk)


def test_tampered_ciphertext_fails_at_decryption(
    wire: Wire, keypair: Keys, engine: PaillierEngine
) -> None:
    data, meta = wire
    tampered = bytearray(data)
    tampered[40] ^= 0x10
    p = from_wire(bytes(tampered), meta, keypair[0])
    with pytest.raises(CiphertextError, match="tampered"):
        engine.decrypt_ints(p)


def test_ciphertext_under_another_key(wire: Wire, other_keypair: Keys) -> None:
    data, meta = wire
    with pytest.raises(KeyMismatchError):
        from_wire(data, meta, other_keypair[0])


def test_inconsistent_metadata(wire: Wire, keypair: Keys) -> None:
    data, meta = wire
    for bad in (
        replace(meta, slots=meta.slots + 1),
        replace(meta, axis=2),
        replace(meta, rows=0),
        replace(meta, mask_bits=8),
        replace(meta, slot_bound=2**400),
    ):
        with pytest.raises(EncodingBoundsError):
            from_wire(data, bad, keypair[0])
    with pytest.raises(CiphertextError):
        from_wire(data, replace(meta, rows=meta.rows + meta.slots), keypair[0])
