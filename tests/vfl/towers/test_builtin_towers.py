"""Each built-in tower: output shape, one training step, determinism and option checks."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from vfl.errors import TowerError
from vfl.towers import BuiltTower, build_tower

SHAPES: dict[str, tuple[int, ...]] = {
    "image2d-cnn": (1, 32, 32),
    "image3d-cnn": (1, 8, 12, 12),
    "genomics-mlp": (50,),
    "genomics-autoencoder": (50,),
    "tabular-mlp": (7,),
}


def _build(name: str, out_dim: int = 6, **options: Any) -> BuiltTower:
    return build_tower(
        {"name": name, "out_dim": out_dim, "input_shape": SHAPES[name], "options": options}
    )


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_builtin_maps_a_batch_to_out_dim(name: str) -> None:
    torch.manual_seed(0)
    tower = _build(name, out_dim=5).module

    out = tower(torch.randn(4, *SHAPES[name]))

    assert out.shape == (4, 5)
    assert out.abs().max() <= 1.0  # tanh output by default


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_builtin_trains_one_step_toward_a_target(name: str) -> None:
    torch.manual_seed(1)
    tower = _build(name).module
    x, target = torch.randn(8, *SHAPES[name]), torch.rand(8, 6) - 0.5
    optimizer = torch.optim.SGD(tower.parameters(), lr=0.1)
    tower.eval()  # measure without dropout noise; the step itself runs in train mode
    with torch.no_grad():
        before = nn.functional.mse_loss(tower(x), target)
    tower.train()

    for _ in range(3):
        optimizer.zero_grad()
        torch.autograd.backward(nn.functional.mse_loss(tower(x), target))
        optimizer.step()

    tower.eval()
    with torch.no_grad():
        after = nn.functional.mse_loss(tower(x), target)
    assert after < before


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_builtin_is_deterministic_under_manual_seed(name: str) -> None:
    x = torch.randn(3, *SHAPES[name])
    outputs = []
    for _ in range(2):
        torch.manual_seed(7)
        tower = _build(name).module
        outputs.append(tower(x))

    assert torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize(
    ("name", "shape", "fragment"),
    [
        ("image2d-cnn", (32, 32), r"\(C, H, W\)"),
        ("image3d-cnn", (1, 32, 32), r"\(C, D, H, W\)"),
        ("genomics-mlp", (1, 50), r"\(n_features,\)"),
        ("genomics-autoencoder", (5, 5), r"\(n_features,\)"),
        ("tabular-mlp", (1, 2, 3), r"\(n_features,\)"),
        ("image2d-cnn", (1, 3, 3), "smaller than stem=4"),
    ],
)
def test_wrong_input_rank_names_the_expected_layout(
    name: str, shape: tuple[int, ...], fragment: str
) -> None:
    with pytest.raises(TowerError, match=fragment):
        build_tower({"name": name, "out_dim": 4, "input_shape": shape})


@pytest.mark.parametrize(
    ("name", "options", "fragment"),
    [
        ("genomics-mlp", {"hiden": [3]}, r"unknown option.*'hiden'.*accepted"),
        ("genomics-mlp", {"hidden": []}, "'hidden' must be a non-empty list"),
        ("tabular-mlp", {"dropout": 1.5}, r"'dropout' must be a number in \[0, 1\)"),
        ("tabular-mlp", {"batch_norm": "yes"}, "'batch_norm' must be true or false"),
        ("image2d-cnn", {"output_activation": "gelu"}, "'output_activation' must be one of"),
        ("image2d-cnn", {"pool": 0}, "'pool' must be an integer >= 1"),
    ],
)
def test_bad_option_is_a_tower_error(name: str, options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TowerError, match=fragment):
        _build(name, **options)


def test_options_change_the_architecture() -> None:
    tower = _build("genomics-mlp", hidden=[16, 8], dropout=0.3, batch_norm=True).module

    kinds = [type(m) for m in tower.modules()]

    assert kinds.count(nn.Linear) == 3
    assert kinds.count(nn.BatchNorm1d) == 2 and kinds.count(nn.Dropout) == 2
    assert isinstance(list(tower.modules())[-1], nn.Tanh)


def test_output_activation_none_leaves_the_embedding_unbounded() -> None:
    torch.manual_seed(0)
    tower = _build("tabular-mlp", output_activation="none", batch_norm=False).module

    out = tower(100 * torch.randn(16, 7))

    assert out.abs().max() > 1.0


def test_image2d_cnn_accepts_other_image_sizes_via_adaptive_pooling() -> None:
    built = build_tower({"name": "image2d-cnn", "out_dim": 4, "input_shape": [3, 64, 48]})

    assert built.module(torch.randn(2, 3, 64, 48)).shape == (2, 4)
