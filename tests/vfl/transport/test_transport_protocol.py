"""The real interactive layer (both state machines) driven through each transport.

Everything the protocol computes must survive the codec exactly: the label party's z and the
feature party's ∂L/∂α match the plaintext maths, and the weight split stays exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from transport_fakes import GrpcRig

from vfl.crypto import PaillierEngine
from vfl.protocol import (
    Hello,
    HelloReply,
    LayerSpec,
    PaillierFeatureLayer,
    PaillierLabelLayer,
    Step,
)
from vfl.transport import InProcessTransport

B, D, H = 6, 3, 2
SPEC = LayerSpec(in_dim=D, out_dim=H, batch_size=B, lr=0.1)


class LayerService:
    """A minimal label party: one batch through `PaillierLabelLayer` with a fixed δ."""

    def __init__(self, layer, delta):
        self.layer, self.delta, self.z = layer, delta, None

    def hello(self, party, msg):
        return HelloReply(session="s", spec=self.layer.spec, start_epoch=0, epochs=1)

    def next_step(self, party, session):
        return Step("train", 0, 0, np.arange(B))

    def forward(self, party, session, msg):
        return self.layer.on_forward(msg)

    def forward_finish(self, party, session, msg):
        self.z = self.layer.on_forward_finish(msg)

    def backward(self, party, session, batch):
        return self.layer.backward(self.delta)

    def backward_finish(self, party, session, msg):
        self.layer.on_backward_finish(msg)

    def epoch_saved(self, party, session, epoch):
        pass


def _one_batch(transport, feature, alpha):
    reply = transport.hello(
        "imaging",
        Hello(
            "imaging",
            "train",
            "paillier",
            D,
            60,
            "d",
            public_key=feature.engine.public_key.to_bytes(),
        ),
    )
    s = reply.session
    step = transport.next_step("imaging", s)
    fwd = transport.forward("imaging", s, feature.forward(step.batch, alpha, train=True))
    transport.forward_finish("imaging", s, feature.finish_forward(fwd))
    fin, grad_alpha = feature.finish_backward(transport.backward("imaging", s, step.batch))
    transport.backward_finish("imaging", s, fin)
    return grad_alpha


@pytest.mark.parametrize("kind", ["inprocess", "grpc"])
def test_one_protected_batch_through_the_transport_matches_plaintext_maths(engine, kind):
    rng = np.random.default_rng(3)
    w_share, e_share = rng.normal(0, 0.3, (D, H)), rng.normal(0, 0.3, (D, H))
    alpha, delta = rng.normal(0, 1, (B, D)), rng.normal(0, 0.1, (B, H))
    w = w_share + e_share
    with PaillierEngine(engine.public_key, workers=1) as label_engine:
        service = LayerService(PaillierLabelLayer(SPEC, label_engine, w_share), delta)
        feature = PaillierFeatureLayer(SPEC, engine, e_share, noise_scale=1e-2)
        if kind == "inprocess":
            grad_alpha = _one_batch(InProcessTransport(service), feature, alpha)
        else:
            with GrpcRig(service, parties=["imaging"]) as rig:
                grad_alpha = _one_batch(rig.client(), feature, alpha)

    np.testing.assert_allclose(service.z, alpha @ w, atol=1e-5)
    np.testing.assert_allclose(grad_alpha, delta @ w.T, atol=1e-5)
    expected = w - SPEC.lr * alpha.T @ delta
    np.testing.assert_allclose(
        service.layer.weight_share + feature.noise_share, expected, atol=1e-5
    )
