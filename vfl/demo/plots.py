"""The report's PNG figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vfl.demo.evaluate import HeldOut  # noqa: E402

__all__ = ["plot_all"]


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _curves(history: Sequence[Mapping[str, float]], path: Path) -> Path:
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, auc_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
    loss_ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="training")
    if history and "val_loss" in history[0]:
        loss_ax.plot(epochs, [r["val_loss"] for r in history], "s-", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="log loss", title="Loss")
    loss_ax.legend()
    if history and "val_auc" in history[0]:
        auc_ax.plot(epochs, [r["val_auc"] for r in history], "s-", color="tab:green")
    auc_ax.set(xlabel="epoch", ylabel="ROC AUC", title="Validation AUC", ylim=(0.4, 1.0))
    return _save(fig, path)


def _roc(result: HeldOut, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(result.fpr, result.tpr, label=f"split model (AUC {result.auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(
        xlabel="false-positive rate",
        ylabel="true-positive rate",
        title=f"Held-out patients (n = {result.n})",
    )
    ax.legend(loc="lower right")
    return _save(fig, path)


def _contribution(result: HeldOut, path: Path) -> Path:
    names = list(result.left_out)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    width = 0.38
    for k, variant in enumerate(("zero", "mean")):
        drops = [result.auc - result.left_out[n][variant] for n in names]
        xs = [i + (k - 0.5) * width for i in range(len(names))]
        ax.bar(
            xs,
            drops,
            width,
            label="embedding set to zero" if variant == "zero" else "set to its mean",
        )
    ax.set_xticks(range(len(names)), names)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(ylabel="held-out AUC drop", title="Leaving one modality out")
    ax.legend()
    return _save(fig, path)


def _stages(stages: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    names = list(stages)
    fig, (t_ax, b_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
    t_ax.bar(names, [stages[n]["seconds"] for n in names], color="tab:blue")
    t_ax.set(ylabel="seconds (wall)", title="Time per stage")
    b_ax.bar(names, [stages[n]["bytes"] / 1e6 for n in names], color="tab:orange")
    b_ax.set(ylabel="MB on the wire (all parties)", title="Bytes per stage")
    return _save(fig, path)


def plot_all(
    out: Path,
    history: Sequence[Mapping[str, float]],
    heldout: HeldOut,
    stages: Mapping[str, Mapping[str, float]],
) -> dict[str, Path]:
    """Write every figure into `out`; return name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    return {
        "training": _curves(history, out / "training.png"),
        "roc": _roc(heldout, out / "roc_heldout.png"),
        "contribution": _contribution(heldout, out / "modality_contribution.png"),
        "stages": _stages(stages, out / "stages.png"),
    }
