"""What each party can learn: H about the label party's gradient δ, G about H's embedding.

Each side plays along honestly but records everything it decrypts, then tries to solve for
what it must not know. δ = ∂L/∂z is the label party's secret (with a sigmoid head it is
proportional to prediction − label); α and E are the feature party's.
"""

from __future__ import annotations

import numpy as np
import pytest

from vfl.crypto import completion_offset, encryptor_side_correction
from vfl.crypto.packing import quantize
from vfl.errors import CryptoError
from vfl.protocol import LayerSpec, PaillierFeatureLayer, PaillierLabelLayer

B, D, H = 16, 6, 3  # d > h: E has full column rank, the case where the published flaw bites


class RecordingEngine:
    """An engine that records every plaintext its owner decrypts."""

    def __init__(self, engine):
        self._engine = engine
        self.decrypted = []

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def decrypt_ints(self, p):
        out = self._engine.decrypt_ints(p)
        self.decrypted.append(out)
        return out


def _spec():
    return LayerSpec(in_dim=D, out_dim=H, batch_size=B, lr=0.1, alpha_bound=4.0)


def _run(engines, w_share, e_share, alpha, delta):
    """One training batch; returns both views and what H received."""
    spec = _spec()
    h_rec, g_rec = RecordingEngine(engines.h_own), RecordingEngine(engines.g_own)
    h = PaillierFeatureLayer(spec, h_rec, engines.h_on_g, e_share)
    g = PaillierLabelLayer(spec, g_rec, engines.g_on_h, w_share)
    weights = g.weights()
    z = g.on_forward(h.forward(0, alpha, weights, train=True))
    reply = g.backward(delta)
    fin, grad_alpha = h.finish_backward(reply)
    g.on_backward_finish(fin)
    return h_rec.decrypted, g_rec.decrypted, grad_alpha, z, (weights, reply), fin


def _data(seed=0):
    rng = np.random.default_rng(seed)
    w_share = rng.normal(0, 0.3, (D, H))
    e_share = rng.normal(0, 0.3, (D, H))
    alpha = rng.normal(0, 1, (B, D))
    delta = rng.normal(0, 0.2, (B, H))
    return w_share, e_share, alpha, delta


def test_the_published_flaw_would_leak_delta_but_our_reply_does_not(engines):
    w_share, e_share, alpha, delta = _data()
    _, _, grad_alpha, _, _, _ = _run(engines, w_share, e_share, alpha, delta)

    # A FATE-2.2-style host decrypts δ·Eᵀ with its own share E and solves for δ exactly:
    flawed = delta @ e_share.T
    solved_flawed = np.linalg.lstsq(e_share, flawed.T, rcond=None)[0].T
    np.testing.assert_allclose(solved_flawed, delta, atol=1e-9)

    # Our H only ever gets δ·Wᵀ = δ·(W̃ + E)ᵀ; the same attack with its own E fails:
    np.testing.assert_allclose(grad_alpha, delta @ (w_share + e_share).T, atol=1e-5)
    solved = np.linalg.lstsq(e_share, grad_alpha.T, rcond=None)[0].T
    rel_err = np.linalg.norm(solved - delta) / np.linalg.norm(delta)
    assert rel_err > 0.5


def test_h_decrypts_only_its_input_gradient_and_cannot_open_the_rest(engines):
    w_share, e_share, alpha, delta = _data(2)
    h_view, _, grad_alpha, _, (weights, reply), _ = _run(engines, w_share, e_share, alpha, delta)
    assert len(h_view) == 1  # one decryption per training batch: the input gradient
    # [[W̃]] and [[δ]] are under G's key: H's own key cannot open them.
    for received in (weights, reply.delta):
        assert received.fingerprint == engines.g_own.public_key.fingerprint
        with pytest.raises(CryptoError):
            engines.h_own.decrypt_ints(received)
    # What H decrypted is δ·Wᵀ plus terms H knows (its offsets and the public K), nothing else.
    spec = _spec()
    cross = spec.cross_budget()
    residue = h_view[0] - encryptor_side_correction(e_share, cross, "matmul")
    residue = residue - completion_offset(cross)
    w_q = quantize(w_share, cross.x_bound, cross.x_frac_bits) + quantize(
        e_share, cross.x_bound, cross.x_frac_bits
    )
    d_q = quantize(delta, cross.a_bound, cross.a_frac_bits)
    assert (residue == w_q.dot(d_q.T)).all()
    np.testing.assert_allclose(grad_alpha, delta @ (w_share + e_share).T, atol=1e-5)


def test_h_cannot_tell_delta_from_any_other_with_the_same_input_gradient(engines):
    w_share, e_share, alpha, delta = _data(1)
    w = w_share + e_share
    # A different gradient δ2 = δ·M and weights W2 = W·M⁻ᵀ give the same δ·Wᵀ.
    m = np.array([[1.5, 0.3, 0.0], [-0.2, 0.8, 0.4], [0.1, 0.0, 1.2]])
    delta2, w2 = delta @ m, w @ np.linalg.inv(m).T
    view1, _, grad1, _, _, _ = _run(engines, w_share, e_share, alpha, delta)
    view2, _, grad2, _, _, _ = _run(engines, w2 - e_share, e_share, alpha, delta2)
    assert np.abs(delta2 - delta).max() > 0.05
    # H's only decryption, its input gradient, is the same in both worlds (up to rounding at
    # the fixed-point resolution); everything else H holds is under G's key.
    np.testing.assert_allclose(grad1, grad2, atol=1e-5)
    scale = 2 ** _spec().cross_budget().scale_bits
    gap = max(abs(int(a) - int(b)) for a, b in zip(view1[0].ravel(), view2[0].ravel(), strict=True))
    assert gap / scale < 1e-5


def test_g_decrypts_exactly_the_projection_and_the_noisy_gradient(engines):
    w_share, e_share, alpha, delta = _data(3)
    _, g_view, _, z, _, _ = _run(engines, w_share, e_share, alpha, delta)
    assert len(g_view) == 2  # per training batch: the projection and the weight gradient
    spec = _spec()
    fwd = spec.forward_budget()
    # The projection, minus what G knows (its offsets, K), is exactly the quantized α·W.
    residue = g_view[0] - encryptor_side_correction(w_share, fwd, "tmatmul")
    residue = residue - completion_offset(fwd)
    a_q = quantize(alpha, fwd.a_bound, fwd.a_frac_bits)
    w_q = quantize(w_share, fwd.x_bound, fwd.x_frac_bits) + quantize(
        e_share, fwd.x_bound, fwd.x_frac_bits
    )
    assert (residue == a_q.dot(w_q).T).all()
    np.testing.assert_allclose(z, alpha @ (w_share + e_share), atol=1e-5)


def test_g_sees_the_weight_gradient_only_through_fresh_noise(engines):
    w_share, e_share, alpha, delta = _data(4)
    spec = _spec()
    bwd = spec.backward_budget()
    true = quantize(delta, bwd.x_bound, bwd.x_frac_bits).T.dot(
        quantize(alpha, bwd.a_bound, bwd.a_frac_bits)
    )  # h×d, as G decrypts it
    noises = []
    for _ in range(2):
        _, g_view, _, _, _, _ = _run(engines, w_share, e_share, alpha, delta)
        residue = g_view[1] - encryptor_side_correction(delta, bwd, "tmatmul")
        residue = residue - completion_offset(bwd)
        noises.append(residue - true)
    # What remains after removing the true gradient is H's noise N/η: non-zero, within its
    # bound, and different in two runs with identical inputs.
    limit = int(1e-3 / spec.lr * 2**bwd.scale_bits)
    for noise in noises:
        assert max(abs(int(v)) for v in noise.ravel()) <= limit
        assert any(int(v) != 0 for v in noise.ravel())
    assert any(int(a) != int(b) for a, b in zip(noises[0].ravel(), noises[1].ravel(), strict=True))
