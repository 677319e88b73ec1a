"""Held-out evaluation and each modality's contribution, computed by the demo harness.

The held-out predictions are the label party's output of `vfl predict` (a new PSI run over the
patients it kept back; see `vfl.demo.cohort`). The AUC and ROC come from them alone.

The contribution of a modality is measured by leaving its embedding out: its projection
``z_p = α_p · (W̃_p + E_p)`` is replaced by zero (and, as a gentler variant, by its mean over the
held-out patients) at the fusion head, and the drop in held-out AUC is reported. No party could
compute this alone: the harness reads every party's saved model part and files (it generated
them all on this machine) and recomputes the forward pass in plaintext. Its full-model output is
compared with `vfl predict`'s to show that it reproduces the protected pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score, roc_curve

from vfl.config import load_config
from vfl.errors import TrainingError
from vfl.fusion import FusionHead, make_task
from vfl.party.model import load_model_part
from vfl.party.stage2 import load_inputs, parse_stage2, read_alignment
from vfl.towers import TowerSpec, build_tower

__all__ = ["HeldOut", "evaluate_heldout"]


@dataclass(frozen=True)
class HeldOut:
    """Held-out results.

    Attributes:
        n: held-out patients predicted.
        positives: responders among them.
        auc: ROC AUC of `vfl predict`'s output.
        fpr: ROC curve false-positive rates.
        tpr: ROC curve true-positive rates.
        harness_max_diff: largest gap between the harness's and `vfl predict`'s probabilities.
        left_out: modality -> {"zero": AUC, "mean": AUC} with that embedding left out.
    """

    n: int
    positives: int
    auc: float
    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    harness_max_diff: float
    left_out: dict[str, dict[str, float]]


def _projection(config: Path, model_dir: Path, label_layers: dict[str, Any]) -> torch.Tensor:
    """``z_p`` for every held-out position, from the party's files and both weight shares."""
    cfg = load_config(config)
    s2 = parse_stage2(cfg)
    alignment = read_alignment(cfg.party.workdir)
    prep = model_dir / "preprocessor.json"
    inputs, _ = load_inputs(s2, alignment.rows, cfg.party.workdir, prep if prep.is_file() else None)
    manifest, state = load_model_part(model_dir)
    if inputs is None or not manifest.get("tower"):
        raise TrainingError(f"{config}: no modality or tower to recompute the projection")
    tower = build_tower(TowerSpec.from_mapping(manifest["tower"])).module
    tower.load_state_dict(state["tower"])
    tower.eval()
    share = np.asarray(label_layers[cfg.party.name]["weight_share"], dtype=np.float64)
    weights = share + np.asarray(state["layer"]["noise_share"], dtype=np.float64)
    with torch.no_grad():
        alpha: torch.Tensor = tower(inputs).double()
    return alpha @ torch.as_tensor(weights)


def _head(model_dir: Path) -> tuple[FusionHead, dict[str, Any]]:
    manifest, state = load_model_part(model_dir)
    train = manifest["train"]
    task = make_task(
        train["task"], n_classes=train["n_classes"] if train["task"] == "multiclass" else None
    )
    head = FusionHead(
        manifest["parties"],
        int(train["interactive_width"]),
        task,
        combine=train["combine"],
        hidden=tuple(train["hidden"]),
    )
    head.load_state_dict(state["head"])
    head.eval()
    return head, dict(state["layers"])


def _probabilities(head: FusionHead, zs: dict[str, torch.Tensor]) -> NDArray[np.float64]:
    dtype = head.bias.dtype
    with torch.no_grad():
        logits = head({p: z.to(dtype) for p, z in zs.items()})
        return np.asarray(head.task.predict(logits).double().numpy(), dtype=np.float64)


def evaluate_heldout(
    *,
    predictions: Path,
    labels_file: Path,
    label_column: str,
    heldout_configs: dict[str, Path],
    model_dirs: dict[str, Path],
    label: str,
) -> HeldOut:
    """Score `vfl predict`'s held-out output and measure each modality's contribution.

    Args:
        predictions: the label party's `predictions.parquet` (position, row, prediction).
        labels_file: the label party's held-out outcome table (rows as in `row`).
        label_column: the outcome column (0/1).
        heldout_configs: party -> prediction config (its workdir holds that run's alignment).
        model_dirs: party -> trained model part.
        label: the label party's name.
    """
    pred = pd.read_parquet(predictions).sort_values("position")
    outcomes = pd.read_csv(labels_file)[label_column].to_numpy()
    y = outcomes[pred["row"].to_numpy()].astype(np.int64)
    p = pred["prediction"].to_numpy(dtype=np.float64)
    fpr, tpr, _ = roc_curve(y, p)
    head, layers = _head(model_dirs[label])
    zs = {
        party: _projection(heldout_configs[party], model_dirs[party], layers)
        for party in head.parties
    }
    harness = _probabilities(head, zs)
    left_out = {}
    for party, z in zs.items():
        zero = _probabilities(head, {**zs, party: torch.zeros_like(z)})
        mean = _probabilities(head, {**zs, party: z.mean(0, keepdim=True).expand_as(z)})
        left_out[party] = {
            "zero": float(roc_auc_score(y, zero)),
            "mean": float(roc_auc_score(y, mean)),
        }
    return HeldOut(
        n=int(y.size),
        positives=int(y.sum()),
        auc=float(roc_auc_score(y, p)),
        fpr=fpr,
        tpr=tpr,
        harness_max_diff=float(np.max(np.abs(harness - p))),
        left_out=left_out,
    )
