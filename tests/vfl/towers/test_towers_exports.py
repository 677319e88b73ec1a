"""Pin the public API of vfl.towers."""

from __future__ import annotations

import vfl.towers


def test_towers_all_is_pinned() -> None:
    assert sorted(vfl.towers.__all__) == sorted(
        [
            "ENTRY_POINT_GROUP",
            "AutoencoderTower",
            "BuiltTower",
            "TowerFactory",
            "TowerRegistry",
            "TowerSpec",
            "build_tower",
            "check_tower",
            "default_registry",
            "genomics_autoencoder",
            "genomics_mlp",
            "image2d_cnn",
            "image3d_cnn",
            "pretrain_autoencoder",
            "reconstruction_loss",
            "tabular_mlp",
        ]
    )


def test_every_exported_name_exists() -> None:
    missing = [name for name in vfl.towers.__all__ if not hasattr(vfl.towers, name)]

    assert missing == []


def test_builtins_are_registered_explicitly_by_name() -> None:
    names = vfl.towers.default_registry().names()

    for name in ["image2d-cnn", "image3d-cnn", "genomics-mlp", "genomics-autoencoder"]:
        assert name in names
    assert "tabular-mlp" in names
