"""Label-party options: its own tower, multiclass and regression heads, early stopping."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import torch
from torch import nn

from vfl.errors import ConfigError
from vfl.party import FeatureRunner, LabelCoordinator, LabelData, TrainConfig
from vfl.party.settings import require_valid

N = 240


def _run(tmp, cfg, labels, own=None):
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(N, 5)), dtype=torch.float32)
    torch.manual_seed(1)
    tower = nn.Sequential(nn.Linear(5, 4), nn.Tanh())
    data = LabelData(labels=labels)
    if own is not None:
        torch.manual_seed(2)
        data = LabelData(
            labels=labels,
            own_tower=nn.Sequential(nn.Linear(3, 4), nn.Tanh()),
            own_inputs=own,
            own_dim=4,
        )
    label = LabelCoordinator(
        run_id="o",
        cfg=cfg,
        parties=("imaging",),
        data=data,
        n_rows=N,
        alignment_digest="d",
        workdir=tmp / "label",
        timeout_s=60,
    )
    runner = FeatureRunner(
        party="imaging",
        service=label,
        cfg=cfg,
        tower=tower,
        inputs=x,
        n_rows=N,
        alignment_digest="d",
        workdir=tmp / "imaging",
        run_id="o",
    )
    thread = threading.Thread(target=runner.run)
    thread.start()
    result = label.run()
    thread.join(60)
    return result, label


def _cfg(**kw):
    base = dict(
        protection="paillier",
        epochs=2,
        batch_size=64,
        key_bits=1024,
        workers=1,
        interactive_width=4,
        hidden=(8,),
        lr=0.01,
    )
    return TrainConfig(**{**base, **kw})


def test_label_party_with_its_own_tower(tmp_path):
    own = torch.tensor(np.random.default_rng(3).normal(size=(N, 3)), dtype=torch.float32)
    y = (own[:, 0] > 0).float()
    result, label = _run(tmp_path, _cfg(), y, own=own)
    assert result.epochs_run == 2
    assert label.model_state()["own_tower"] is not None
    assert result.history[-1]["val_auc"] > 0.8  # the label party's own modality carries y


@pytest.mark.parametrize(
    ("task", "metric"), [("multiclass", "val_accuracy"), ("regression", "val_rmse")]
)
def test_multiclass_and_regression_heads(tmp_path, task, metric):
    rng = np.random.default_rng(4)
    y = (
        torch.tensor(rng.integers(0, 3, N))
        if task == "multiclass"
        else torch.tensor(rng.normal(size=N), dtype=torch.float32)
    )
    result, _ = _run(tmp_path, _cfg(task=task, n_classes=3, epochs=1), y)
    assert metric in result.history[0]


def test_early_stopping_stops_before_the_last_epoch(tmp_path):
    y = torch.tensor(np.random.default_rng(5).integers(0, 2, N), dtype=torch.float32)  # noise
    result, _ = _run(tmp_path, _cfg(protection="plaintext", epochs=30, patience=1, lr=0.05), y)
    assert result.stopped_early and result.epochs_run < 30


def test_plaintext_protection_warns_loudly(caplog):
    with caplog.at_level(logging.WARNING):
        require_valid({"protection": "plaintext"})
    assert "PROTECTION IS OFF" in caplog.text


def test_train_config_errors_are_reported_together():
    with pytest.raises(ConfigError) as err:
        require_valid(
            {
                "protection": "rot13",
                "epochs": 0,
                "key_bits": 512,
                "colour": "red",
                "key_scheme": "rsa",
            }
        )
    assert len(err.value.problems) == 5
    assert any("key_scheme must be one of subgroup, djn" in p for p in err.value.problems)


def test_peer_key_schemes_setting():
    assert require_valid({}).peer_key_schemes == ("subgroup", "djn")
    assert require_valid({"peer_key_schemes": ["djn"]}).peer_key_schemes == ("djn",)
    for bad in ([], ["rsa"], "djn"):
        with pytest.raises(ConfigError, match="peer_key_schemes must be a non-empty list"):
            require_valid({"peer_key_schemes": bad})
