"""The real interactive layer (both state machines) driven through each transport.

Everything the protocol computes must survive the codec exactly: the label party's z and the
feature party's ∂L/∂α match the plaintext maths, and the weight split stays exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from transport_fakes import GrpcRig

from vfl.crypto import PaillierEngine, generate_keypair
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
SPEC = LayerSpec(in_dim=D, out_dim=H, batch_size=B, lr=0.1, alpha_bound=4.0)


class LayerService:
    """A minimal label party: one batch through `PaillierLabelLayer` with a fixed δ."""

    def __init__(self, layer, delta):
        self.layer, self.delta, self.z = layer, delta, None

    def hello(self, party, msg):
        key = self.layer.engine.public_key.to_bytes()
        return HelloReply("s", self.layer.spec, start_epoch=0, epochs=1, public_key=key)

    def next_step(self, party, session):
        return Step("train", 0, 0, np.arange(B))

    def weights(self, party, session, batch):
        return self.layer.weights()

    def forward(self, party, session, msg):
        self.z = self.layer.on_forward(msg)

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
    weights = transport.weights("imaging", s, step.batch)
    transport.forward("imaging", s, feature.forward(step.batch, alpha, weights, train=True))
    fin, grad_alpha = feature.finish_backward(transport.backward("imaging", s, step.batch))
    transport.backward_finish("imaging", s, fin)
    return grad_alpha


@pytest.fixture(scope="module")
def label_keys():
    return generate_keypair(1024)


@pytest.mark.parametrize("kind", ["inprocess", "grpc"])
def test_one_protected_batch_through_the_transport_matches_plaintext_maths(
    engine, label_keys, kind
):
    rng = np.random.default_rng(3)
    w_share, e_share = rng.normal(0, 0.3, (D, H)), rng.normal(0, 0.3, (D, H))
    alpha, delta = rng.normal(0, 1, (B, D)), rng.normal(0, 0.1, (B, H))
    w = w_share + e_share
    pk_g, sk_g = label_keys
    with (
        PaillierEngine(pk_g, sk_g, workers=1) as g_own,
        PaillierEngine(engine.public_key, workers=1) as g_on_h,
        PaillierEngine(pk_g, workers=1) as h_on_g,
    ):
        service = LayerService(PaillierLabelLayer(SPEC, g_own, g_on_h, w_share), delta)
        feature = PaillierFeatureLayer(SPEC, engine, h_on_g, e_share, noise_scale=1e-2)
        if kind == "inprocess":
            grad_alpha = _one_batch(InProcessTransport(service), feature, alpha)
        else:
            with GrpcRig(service, parties=["imaging"], label_key=pk_g) as rig:
                grad_alpha = _one_batch(rig.client(), feature, alpha)

    np.testing.assert_allclose(service.z, alpha @ w, atol=1e-5)
    np.testing.assert_allclose(grad_alpha, delta @ w.T, atol=1e-5)
    expected = w - SPEC.lr * alpha.T @ delta
    np.testing.assert_allclose(
        service.layer.weight_share + feature.noise_share, expected, atol=1e-5
    )
