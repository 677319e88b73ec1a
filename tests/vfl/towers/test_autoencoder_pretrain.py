"""Local unsupervised pretraining of the genomics autoencoder tower."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vfl.errors import TowerError
from vfl.towers import (
    AutoencoderTower,
    build_tower,
    pretrain_autoencoder,
    reconstruction_loss,
)


def _dosages(n: int = 256, n_features: int = 60, seed: int = 0) -> np.ndarray:
    """SNP-like dosages 0/1/2 driven by 4 latent factors, so they are compressible."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 4))
    loadings = rng.normal(size=(4, n_features))
    return np.clip(np.rint(1 + factors @ loadings / 2), 0, 2).astype(np.float32)


def _autoencoder(n_features: int = 60) -> nn.Module:
    spec = {
        "name": "genomics-autoencoder",
        "out_dim": 8,
        "input_shape": [n_features],
        "options": {"hidden": [32]},
    }
    return build_tower(spec).module


def test_tower_forward_is_the_encoder_and_reconstruct_uses_the_decoder() -> None:
    torch.manual_seed(0)
    tower = _autoencoder()
    x = torch.randn(3, 60)

    assert isinstance(tower, AutoencoderTower)
    assert torch.equal(tower(x), tower.encoder(x))
    assert tower.reconstruct(x).shape == (3, 60)


def test_pretraining_reduces_reconstruction_loss() -> None:
    torch.manual_seed(0)
    tower, data = _autoencoder(), _dosages()
    before = reconstruction_loss(tower, data)

    history = pretrain_autoencoder(
        tower, data, epochs=15, batch_size=64, lr=3e-3, generator=torch.Generator().manual_seed(1)
    )

    after = reconstruction_loss(tower, data)
    assert len(history) == 15
    assert after < 0.5 * before
    assert history[-1] < history[0]


def test_pretraining_is_reproducible_and_restores_the_mode() -> None:
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        tower = _autoencoder()
        tower.eval()
        gen = torch.Generator().manual_seed(3)
        pretrain_autoencoder(tower, _dosages(64), epochs=2, batch_size=16, noise=0.1, generator=gen)
        assert not tower.training
        runs.append(torch.cat([p.flatten() for p in tower.parameters()]))

    assert torch.equal(runs[0], runs[1])


def test_pretraining_a_module_without_decoder_is_a_tower_error() -> None:
    with pytest.raises(TowerError, match="encoder.*decoder"):
        pretrain_autoencoder(nn.Linear(4, 2), np.zeros((8, 4), dtype=np.float32))


def test_pretraining_rejects_bad_arguments() -> None:
    with pytest.raises(TowerError, match="epochs"):
        pretrain_autoencoder(_autoencoder(), _dosages(16), epochs=0)
    with pytest.raises(TowerError, match="non-empty"):
        pretrain_autoencoder(_autoencoder(), np.zeros((0, 60), dtype=np.float32))


def test_pretraining_with_batch_norm_skips_a_lone_trailing_row() -> None:
    torch.manual_seed(0)
    spec = {
        "name": "genomics-autoencoder",
        "out_dim": 4,
        "input_shape": [60],
        "options": {"hidden": [16], "batch_norm": True},
    }
    tower = build_tower(spec).module

    history = pretrain_autoencoder(tower, _dosages(65), epochs=2, batch_size=16)

    assert len(history) == 2 and all(np.isfinite(history))
