"""The interactive layer, run in process with real Paillier keys, against plaintext maths."""

from __future__ import annotations

import numpy as np
import pytest

from vfl.errors import EncodingBoundsError, ProtocolViolationError
from vfl.protocol import (
    BackwardReply,
    LayerSpec,
    PaillierFeatureLayer,
    PaillierLabelLayer,
    PlainFeatureLayer,
    PlainLabelLayer,
)

B, D, H = 12, 5, 4


def _spec(**kw):
    return LayerSpec(in_dim=D, out_dim=H, batch_size=B, alpha_bound=4.0, **kw)


def _pair(engines, spec, seed=0):
    rng = np.random.default_rng(seed)
    w_share = rng.normal(0, 0.3, (spec.in_dim, spec.out_dim))
    e_share = rng.normal(0, 0.3, (spec.in_dim, spec.out_dim))
    return (
        PaillierFeatureLayer(spec, engines.h_own, engines.h_on_g, e_share, noise_scale=1e-2),
        PaillierLabelLayer(spec, engines.g_own, engines.g_on_h, w_share),
        w_share + e_share,
    )


def _step(h, g, batch, alpha, delta):
    weights = g.weights() if isinstance(g, PaillierLabelLayer) else None
    z = g.on_forward(h.forward(batch, alpha, weights, train=True))
    fin, grad_alpha = h.finish_backward(g.backward(delta))
    g.on_backward_finish(fin)
    return z, grad_alpha


def test_one_step_matches_plaintext_maths(engines):
    spec = _spec(lr=0.1)
    h, g, w = _pair(engines, spec)
    rng = np.random.default_rng(1)
    alpha, delta = rng.normal(0, 1, (B, D)), rng.normal(0, 0.1, (B, H))

    z, grad_alpha = _step(h, g, 0, alpha, delta)

    np.testing.assert_allclose(z, alpha @ w, atol=1e-5)
    np.testing.assert_allclose(grad_alpha, delta @ w.T, atol=1e-5)
    expected = w - spec.lr * alpha.T @ delta
    np.testing.assert_allclose(g.weight_share + h.noise_share, expected, atol=1e-5)


def test_noise_moves_the_shares_but_not_the_weights(engines):
    spec = _spec(lr=0.1)
    h, g, w = _pair(engines, spec)
    share_before = g.weight_share.copy()
    rng = np.random.default_rng(2)
    _step(h, g, 0, rng.normal(0, 1, (B, D)), np.zeros((B, H)))
    # δ = 0: the true weights stay put while G's share moved by the noise H folded in.
    np.testing.assert_allclose(g.weight_share + h.noise_share, w, atol=1e-5)
    assert np.abs(g.weight_share - share_before).max() > 1e-4


def test_noise_is_fresh_every_batch(engines):
    spec = _spec(lr=0.1)
    h, g, _ = _pair(engines, spec)
    alpha, delta = np.full((B, D), 0.5), np.zeros((B, H))
    moves = []
    for batch in range(2):
        before = g.weight_share.copy()
        _step(h, g, batch, alpha, delta)
        moves.append(g.weight_share - before)
    assert np.abs(moves[0] - moves[1]).max() > 1e-4


def test_several_steps_track_plaintext_split_learning(engines):
    spec = _spec(lr=0.05)
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
    spec = _spec()
    h, g, w = _pair(engines, spec)
    alpha = np.random.default_rng(5).normal(0, 1, (B, D))
    request = h.forward(7, alpha, g.weights(), train=False)
    assert request.noise_share is None
    np.testing.assert_allclose(g.on_forward(request), alpha @ w, atol=1e-5)
    with pytest.raises(ProtocolViolationError):
        g.backward(np.zeros((B, H)))


def test_every_encryption_of_the_weights_is_fresh(engines):
    h, g, _ = _pair(engines, _spec())
    first, second = g.weights(), g.weights()
    assert not set(first.ciphertexts) & set(second.ciphertexts)


def test_out_of_place_out_of_bound_and_foreign_messages_are_refused(engines):
    spec = _spec()
    h, g, _ = _pair(engines, spec)
    alpha = np.zeros((B, D))
    g.on_forward(h.forward(0, alpha, g.weights(), train=True))
    reply = g.backward(np.zeros((B, H)))
    with pytest.raises(ProtocolViolationError, match="batch 1"):
        h.finish_backward(BackwardReply(batch=1, delta=reply.delta, grad_input=reply.grad_input))
    # The two tensors swapped: each is under the wrong key for its place.
    swapped = BackwardReply(batch=0, delta=reply.grad_input, grad_input=reply.delta)
    with pytest.raises(ProtocolViolationError, match="another key"):
        h.finish_backward(swapped)
    with pytest.raises(EncodingBoundsError):
        h.forward(1, np.full((B, D), 5.0), g.weights(), train=True)
    # Weights under H's own key (as a confused or hostile label party might send) are refused.
    own = engines.h_own.encrypt(np.zeros((D, H)), axis=1, budget=spec.forward_budget())
    with pytest.raises(ProtocolViolationError, match="another key"):
        h.forward(2, alpha, own, train=True)
    # A label party that picks its own bounds for [[W̃]] is refused.
    other = _spec(weight_bound=64.0)
    odd = engines.g_own.encrypt(np.zeros((D, H)), axis=1, budget=other.forward_budget())
    with pytest.raises(ProtocolViolationError, match="budget"):
        h.forward(3, alpha, odd, train=True)
    with pytest.raises(ProtocolViolationError):
        h.forward(4, alpha, None, train=True)


def test_only_product_outputs_may_stack_columns(engines):
    spec = _spec()
    h, g, _ = _pair(engines, spec)
    # A stacked tensor under H's key with [[E]]'s shape and budget (a product's output).
    cross = spec.cross_budget()
    base = engines.h_own.encrypt(np.ones((D, 1)), axis=0, budget=cross)
    stacked = engines.g_on_h.matmul(base, np.ones((1, H)))
    assert stacked.stack > 1 and stacked.shape == (D, H)
    request = h.forward(0, np.zeros((B, D)), g.weights(), train=True)
    forged = type(request)(batch=0, projection=request.projection, noise_share=stacked)
    with pytest.raises(ProtocolViolationError, match="columns per ciphertext"):
        g.on_forward(forged)
