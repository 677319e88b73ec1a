"""The tower contract: spec validation and build_tower's checks on what a factory returns."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from vfl.errors import TowerError, VflError
from vfl.towers import BuiltTower, TowerRegistry, TowerSpec, build_tower, default_registry

BUILTINS = ["genomics-autoencoder", "genomics-mlp", "image2d-cnn", "image3d-cnn", "tabular-mlp"]


def _registry_with(name: str, factory: Any) -> TowerRegistry:
    registry = default_registry()
    registry.register(name, factory)
    return registry


def _linear_factory(spec: TowerSpec) -> nn.Module:
    return nn.Linear(spec.input_shape[0], spec.out_dim)


def test_spec_from_mapping_round_trips_through_to_dict() -> None:
    table = {"name": "tabular-mlp", "out_dim": 8, "input_shape": [5], "options": {"hidden": [4]}}

    spec = TowerSpec.from_mapping(table)

    assert spec.input_shape == (5,)
    assert spec.to_dict() == table
    assert TowerSpec.from_mapping(spec.to_dict()) == spec


def test_spec_copies_options_so_caller_mutation_does_not_leak() -> None:
    options = {"hidden": [4]}
    spec = TowerSpec("tabular-mlp", 8, (5,), options)

    options["hidden"] = [99]

    assert spec.options == {"hidden": [4]}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "", "out_dim": 4, "input_shape": (3,)}, "name"),
        ({"name": "x", "out_dim": 0, "input_shape": (3,)}, "out_dim"),
        ({"name": "x", "out_dim": True, "input_shape": (3,)}, "out_dim"),
        ({"name": "x", "out_dim": 4, "input_shape": ()}, "input_shape"),
        ({"name": "x", "out_dim": 4, "input_shape": (3, -1)}, "input_shape"),
        ({"name": "x", "out_dim": 4, "input_shape": (3,), "options": [1]}, "options"),
    ],
)
def test_invalid_spec_is_a_tower_error(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(TowerError, match=fragment):
        TowerSpec(**kwargs)


def test_from_mapping_reports_missing_and_unknown_keys_together() -> None:
    with pytest.raises(TowerError) as info:
        TowerSpec.from_mapping({"name": "genomics-mlp", "widht": 3})

    message = str(info.value)
    assert "out_dim" in message and "input_shape" in message and "widht" in message


def test_unknown_name_lists_every_known_tower() -> None:
    with pytest.raises(TowerError) as info:
        build_tower({"name": "image2d-cnm", "out_dim": 4, "input_shape": [1, 8, 8]})

    message = str(info.value)
    assert "'image2d-cnm'" in message
    for name in BUILTINS:
        assert name in message


def test_tower_error_is_a_vfl_error() -> None:
    assert issubclass(TowerError, VflError)


def test_factory_returning_a_non_module_is_rejected_with_known_names() -> None:
    registry = _registry_with("bad", lambda spec: torch.zeros(3))

    with pytest.raises(TowerError) as info:
        build_tower(TowerSpec("bad", 4, (3,)), registry)

    message = str(info.value)
    assert "'bad'" in message and "Tensor" in message and "nn.Module" in message
    assert "genomics-mlp" in message


def test_factory_with_wrong_out_dim_is_rejected_naming_both_widths() -> None:
    registry = _registry_with("narrow", lambda spec: nn.Linear(spec.input_shape[0], 3))

    with pytest.raises(TowerError) as info:
        build_tower(TowerSpec("narrow", 4, (5,)), registry)

    message = str(info.value)
    assert "'narrow'" in message and "(2, 3)" in message and "(2, 4)" in message
    assert "tabular-mlp" in message


def test_factory_that_raises_is_wrapped_with_the_cause_kept() -> None:
    def boom(spec: TowerSpec) -> nn.Module:
        raise RuntimeError("no GPU here")

    with pytest.raises(TowerError, match="'boom'.*RuntimeError: no GPU here") as info:
        build_tower(TowerSpec("boom", 4, (5,)), _registry_with("boom", boom))

    assert isinstance(info.value.__cause__, RuntimeError)
    assert "image3d-cnn" in str(info.value)


def test_module_whose_forward_fails_on_the_declared_shape_is_rejected() -> None:
    registry = _registry_with("mismatch", lambda spec: nn.Linear(7, spec.out_dim))

    with pytest.raises(TowerError, match="'mismatch'.*forward on a zero batch"):
        build_tower(TowerSpec("mismatch", 4, (5,)), registry)


def test_module_returning_a_tuple_is_rejected() -> None:
    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    with pytest.raises(TowerError, match="returned tuple"):
        build_tower(TowerSpec("pair", 5, (5,)), _registry_with("pair", lambda spec: Pair()))


def test_integer_output_is_rejected() -> None:
    class Ints(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.long()

    with pytest.raises(TowerError, match="finite floating"):
        build_tower(TowerSpec("ints", 5, (5,)), _registry_with("ints", lambda spec: Ints()))


def test_a_plain_user_module_is_returned_unchanged() -> None:
    module = nn.Linear(5, 4)
    registry = _registry_with("plain", lambda spec: module)

    built = build_tower(TowerSpec("plain", 4, (5,)), registry)

    assert isinstance(built, BuiltTower)
    assert built.module is module
    assert (built.out_dim, built.input_shape) == (4, (5,))


def test_check_keeps_training_mode_and_batch_norm_statistics() -> None:
    torch.manual_seed(0)
    spec = {
        "name": "tabular-mlp",
        "out_dim": 4,
        "input_shape": [6],
        "options": {"batch_norm": True},
    }
    built = build_tower(spec)
    norms = [m for m in built.module.modules() if isinstance(m, nn.BatchNorm1d)]

    assert built.module.training
    assert norms and all(m.num_batches_tracked == 0 for m in norms)


def test_register_refuses_duplicates_and_colons() -> None:
    registry = default_registry()

    with pytest.raises(TowerError, match="already registered"):
        registry.register("genomics-mlp", _linear_factory)
    with pytest.raises(TowerError, match="':'"):
        registry.register("a:b", _linear_factory)
