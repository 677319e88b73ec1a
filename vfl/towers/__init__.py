"""Modality towers: the contract, the registry and the built-ins.

A tower is a factory ``(spec: TowerSpec) -> torch.nn.Module`` mapping a batch of one party's
inputs to an embedding of width ``spec.out_dim``. `build_tower` resolves a name (built-in,
``vfl.towers`` entry point, or ``"package.module:factory"``), calls the factory and checks the
result. See ``docs/TOWERS.md`` for adding a tower of your own.

Built-ins: ``image2d-cnn``, ``image3d-cnn``, ``genomics-mlp``, ``genomics-autoencoder``
(with `pretrain_autoencoder` for local unsupervised pretraining) and ``tabular-mlp``.
"""

from vfl.towers.autoencoder import (
    AutoencoderTower,
    genomics_autoencoder,
    pretrain_autoencoder,
    reconstruction_loss,
)
from vfl.towers.base import BuiltTower, TowerFactory, TowerSpec, check_tower
from vfl.towers.build import build_tower
from vfl.towers.cnn import image2d_cnn, image3d_cnn
from vfl.towers.mlp import genomics_mlp, tabular_mlp
from vfl.towers.registry import ENTRY_POINT_GROUP, TowerRegistry, default_registry

__all__ = [
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
