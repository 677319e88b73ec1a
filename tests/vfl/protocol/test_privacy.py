"""What the feature party H can learn about the label party's gradient δ.

H plays along honestly but records everything it receives and decrypts, then tries to
solve for δ = ∂L/∂z (which, with a sigmoid head, is proportional to prediction − label).
"""

from __future__ import annotations

import numpy as np
import pytest

from vfl.crypto import PaillierEngine, generate_keypair
from vfl.protocol import LayerSpec, PaillierFeatureLayer, PaillierLabelLayer

B, D, H = 16, 6, 3  # d > h: E has full column rank, the case where the published flaw bites


@pytest.fixture(scope="module")
def engines():
    pk, sk = generate_keypair(1024)
    with PaillierEngine(pk, sk, workers=1) as holder, PaillierEngine(pk, workers=1) as other:
        yield holder, other


class RecordingEngine:
    """H's engine, recording every plaintext H decrypts."""

    def __init__(self, engine):
        self._engine = engine
        self.decrypted = []

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def decrypt_ints(self, p):
        out = self._engine.decrypt_ints(p)
        self.decrypted.append(out)
        return out


def _h_view(engines, w_share, e_share, alpha, delta):
    holder, other = engines
    spec = LayerSpec(in_dim=D, out_dim=H, batch_size=B, lr=0.1)
    rec = RecordingEngine(holder)
    h = PaillierFeatureLayer(spec, rec, e_share)
    g = PaillierLabelLayer(spec, other, w_share)
    g.on_forward_finish(h.finish_forward(g.on_forward(h.forward(0, alpha, train=True))))
    _, grad_alpha = h.finish_backward(g.backward(delta))
    return rec.decrypted, grad_alpha, spec


def _data(seed=0):
    rng = np.random.default_rng(seed)
    w_share = rng.normal(0, 0.3, (D, H))
    e_share = rng.normal(0, 0.3, (D, H))
    alpha = rng.normal(0, 1, (B, D))
    delta = rng.normal(0, 0.2, (B, H))
    return w_share, e_share, alpha, delta


def test_the_published_flaw_would_leak_delta_but_our_reply_does_not(engines):
    w_share, e_share, alpha, delta = _data()
    _, grad_alpha, _ = _h_view(engines, w_share, e_share, alpha, delta)

    # A FATE-2.2-style host decrypts δ·Eᵀ with its own share E and solves for δ exactly:
    flawed = delta @ e_share.T
    solved_flawed = np.linalg.lstsq(e_share, flawed.T, rcond=None)[0].T
    np.testing.assert_allclose(solved_flawed, delta, atol=1e-9)

    # Our H only ever gets δ·Wᵀ = δ·(W̃ + E)ᵀ; the same attack with its own E fails:
    np.testing.assert_allclose(grad_alpha, delta @ (w_share + e_share).T, atol=1e-5)
    solved = np.linalg.lstsq(e_share, grad_alpha.T, rcond=None)[0].T
    rel_err = np.linalg.norm(solved - delta) / np.linalg.norm(delta)
    assert rel_err > 0.5


def test_h_cannot_tell_delta_from_any_other_with_the_same_input_gradient(engines):
    w_share, e_share, alpha, delta = _data(1)
    w = w_share + e_share
    # A different gradient δ2 = δ·M and weights W2 = W·M⁻ᵀ give the same δ·Wᵀ.
    m = np.array([[1.5, 0.3, 0.0], [-0.2, 0.8, 0.4], [0.1, 0.0, 1.2]])
    delta2, w2 = delta @ m, w @ np.linalg.inv(m).T
    view1, grad1, spec = _h_view(engines, w_share, e_share, alpha, delta)
    view2, grad2, _ = _h_view(engines, w2 - e_share, e_share, alpha, delta2)
    assert np.abs(delta2 - delta).max() > 0.05

    # The only unmasked value H decrypts (its input gradient) is the same for both worlds...
    np.testing.assert_allclose(grad1, grad2, atol=1e-5)
    # ...and every other decryption is blinded by a fresh uniform mask 2^40 times larger than
    # the value it hides: subtracting everything H knows still leaves a number of the mask's size.
    fwd, bwd = spec.forward_budget(), spec.backward_budget()
    for view in (view1, view2):
        forward_raw, _input_raw, weight_raw = view  # decryption order in finish_backward
        assert min(int(v) for v in forward_raw.ravel()) >= 0
        big = [int(v).bit_length() for v in forward_raw.ravel()]
        assert np.median(big) > fwd.value_bits + fwd.mask_bits - 8
        big = [int(v).bit_length() for v in weight_raw.ravel()]
        assert np.median(big) > bwd.value_bits + bwd.mask_bits - 8
    # Fresh masks: the two worlds' masked forward values share nothing recognisable.
    assert not np.array_equal(view1[0], view2[0])
