"""The public API of `vfl.transport` is pinned."""

from __future__ import annotations

import vfl.transport


def test_exported_members():
    assert sorted(vfl.transport.__all__) == [
        "Deadlines",
        "GrpcTrainClient",
        "InProcessTransport",
        "PublicKeyFor",
        "SERVICE",
        "STEPS",
        "TRAIN_PROTOCOL_VERSION",
        "TrainServicer",
        "add_train_service",
    ]
    for name in vfl.transport.__all__:
        assert getattr(vfl.transport, name) is not None
