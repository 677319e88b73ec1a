"""The in-process transport: same calls, by default through the codec's bytes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from transport_fakes import FakeService

from vfl.crypto import ProductBudget
from vfl.errors import KeyMismatchError, ProtocolViolationError
from vfl.protocol import BackwardFinish, ForwardRequest, Hello, SessionChangedError
from vfl.transport import InProcessTransport

BUDGET = ProductBudget(x_bound=2.0, a_bound=2.0, n_terms=8)


def _hello(engine):
    return Hello(
        "imaging", "train", "paillier", 3, 10, "d", public_key=engine.public_key.to_bytes()
    )


def test_messages_go_through_bytes_by_default(engine, alpha):
    service = FakeService()
    transport = InProcessTransport(service)
    rows = engine.encrypt(alpha, 0, BUDGET)

    service.weights_reply = rows
    hello = transport.hello("imaging", _hello(engine))
    weights = transport.weights("imaging", hello.session, 1)
    transport.forward("imaging", hello.session, ForwardRequest(1, projection=rows))
    reply = transport.backward("imaging", hello.session, 1)
    transport.backward_finish("imaging", hello.session, BackwardFinish(1, rows))

    got = service.named("forward")[0][2]
    assert got.projection is not rows  # decoded anew, not handed over
    assert [int(c) for c in got.projection.ciphertexts] == [int(c) for c in rows.ciphertexts]
    for back in (weights, reply.delta, service.named("backward_finish")[0][2].grad_weight):
        assert back is not rows
        np.testing.assert_array_equal(engine.decrypt_ints(back), engine.decrypt_ints(rows))


def test_without_roundtrip_objects_are_handed_over(engine, alpha):
    service = FakeService()
    transport = InProcessTransport(service, roundtrip=False)
    rows = engine.encrypt(alpha, 0, BUDGET)
    transport.hello("imaging", _hello(engine))

    transport.forward("imaging", "s-1", ForwardRequest(1, projection=rows))

    assert service.named("forward")[0][2].projection is rows


def test_codec_errors_surface_in_process(engine, other_key, alpha):
    transport = InProcessTransport(FakeService())
    rows = engine.encrypt(alpha, 0, BUDGET)
    with pytest.raises(ProtocolViolationError, match="no public key"):
        transport.forward("imaging", "s-1", ForwardRequest(1, noise_share=rows))
    transport.hello("imaging", replace(_hello(engine), public_key=other_key.to_bytes()))
    with pytest.raises(KeyMismatchError):
        transport.forward("imaging", "s-1", ForwardRequest(1, noise_share=rows))
    nan = ForwardRequest(1, alpha_plain=np.array([[np.nan]]))
    with pytest.raises(ProtocolViolationError, match="NaN"):
        transport.forward("imaging", "s-1", nan)


def test_service_errors_pass_through(engine):
    transport = InProcessTransport(FakeService())
    with pytest.raises(SessionChangedError):
        transport.next_step("imaging", "old")
