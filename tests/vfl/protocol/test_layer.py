"""The interactive layer, run in process with real Paillier keys, against plaintext maths."""

from __future__ import annotations

import numpy as np
import pytest

from vfl.crypto import PaillierEngine, generate_keypair
from vfl.errors import EncodingBoundsError, ProtocolViolationError
from vfl.protocol import (
    LayerSpec,
    PaillierFeatureLayer,
    PaillierLabelLayer,
    PlainFeatureLayer,
    PlainLabelLayer,
)

B, D, H = 12, 5, 4


@pytest.fixture(scope="module")
def engines():
    pk, sk = generate_keypair(1024)
    with PaillierEngine(pk, sk, workers=1) as holder, PaillierEngine(pk, workers=1) as other:
        yield holder, other


def _pair(engines, spec, seed=0):
    rng = np.random.default_rng(seed)
    w_share = rng.normal(0, 0.3, (spec.in_dim, spec.out_dim))
    e_share = rng.normal(0, 0.3, (spec.in_dim, spec.out_dim))
    holder, other = engines
    return (
        PaillierFeatureLayer(spec, holder, e_share, noise_scale=1e-2),
        PaillierLabelLayer(spec, other, w_share),
        w_share + e_share,
    )


def _step(h, g, batch, alpha, delta):
    reply = g.on_forward(h.forward(batch, alpha, train=True))
    z = g.on_forward_finish(h.finish_forward(reply))
    fin, grad_alpha = h.finish_backward(g.backward(delta))
    g.on_backward_finish(fin)
    return z, grad_alpha


def test_one_step_matches_plaintext_maths(engines):
    spec = LayerSpec(in_dim=D, out_dim=H, batch_size=B, lr=0.1)
    h, g, w = _pair(engines, spec)
    rng = np.random.default_rng(1)
    alpha, delta = rng.normal(0, 1, (B, D)), rng.normal(0, 0.1, (B, H))

    z, grad_alpha = _step(h, g, 0, alpha, delta)

    np.testing.assert_allclose(z, alpha @ w, atol=1e-5)
    np.testing.assert_allclose(grad_alpha, delta @ w.T, atol=1e-5)
    expected = w - spec.lr * alpha.T @ delta
    np.testing.assert_allclose(g.weight_share + h.noise_share, expected, atol=1e-5)


def test_noise_moves_the_shares_but_not_the_weights(engines):
    spec = LayerSpec(in_dim=D, out_dim=H, batch_size=B, lr=0.1)
    h, g, w = _pair(engines, spec)
    share_before = g.weight_share.copy()
    rng = np.random.default_rng(2)
    _step(h, g, 0, rng.normal(0, 1, (B, D)), np.zeros((B, H)))
    # δ = 0: the true weights stay put while G's share moved by the noise H folded in.
    np.testing.assert_allclose(g.weight_share + h.noise_share, w, atol=1e-5)
    assert np.abs(g.weight_share - share_before).max() > 1e-4


def test_several_steps_track_plaintext_split_learning(engines):
    spec = LayerSpec(in_dim=D, out_dim=H, batch_size=B, lr=0.05)
    h, g, w = _pair(engines, spec, seed=3)
    ph, pg = PlainFeatureLayer(spec, h.noise_share), PlainLabelLayer(spec, w)
    rng = np.random.default_rng(4)
    for batch in range(4):
        rows = B if batch < 3 else B - 5  # a short last batch
        alpha, delta = rng.normal(0, 1, (rows, D)), rng.normal(0, 0.2, (rows, H))
        z, ga = _step(h, g, batch, alpha, delta)
        pz, pga = _step(ph, pg, batch, alpha, delta)
        np.testing.assert_allclose(z, pz, atol=1e-5)
        np.testing.assert_allclose(ga, pga, atol=1e-5)
    np.testing.assert_allclose(g.weight_share + h.noise_share, pg.weights, atol=1e-5)


def test_forward_only_batches_need_no_backward(engines):
    spec = LayerSpec(in_dim=D, out_dim=H, batch_size=B)
    h, g, w = _pair(engines, spec)
    alpha = np.random.default_rng(5).normal(0, 1, (B, D))
    z = g.on_forward_finish(h.finish_forward(g.on_forward(h.forward(7, alpha, train=False))))
    np.testing.assert_allclose(z, alpha @ w, atol=1e-5)
    with pytest.raises(ProtocolViolationError):
        g.backward(np.zeros((B, H)))


def test_out_of_place_and_out_of_bound_messages_are_refused(engines):
    spec = LayerSpec(in_dim=D, out_dim=H, batch_size=B, alpha_bound=2.0)
    h, g, _ = _pair(engines, spec)
    alpha = np.zeros((B, D))
    reply = g.on_forward(h.forward(0, alpha, train=True))
    with pytest.raises(ProtocolViolationError):
        h.finish_forward(type(reply)(batch=1, masked=reply.masked))
    with pytest.raises(EncodingBoundsError):
        h.forward(1, np.full((B, D), 3.0), train=True)
