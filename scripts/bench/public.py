#!/usr/bin/env python
"""Benchmark: scikit-learn's shipped datasets split vertically between two parties (issue 5).

  breast  Wisconsin breast cancer (569 patients, 30 features): the label party holds the
          label (1 = benign) and the first 10 features, the feature party the other 20
          (FATE's breast_hetero split). Metric: validation ROC AUC.
  digits  8×8 digit images (1,797): the label party holds the left half of each image
          (columns 0-3, 32 pixels) and the label (10 classes), the feature party the right
          half. Metric: validation accuracy.

For each dataset, one run trains the same `tabular-mlp` towers and fusion head five ways:
pooled (both parties' features in one process), label party alone (its tower and the head),
feature party alone (its tower, the interactive layer and the head, given the labels: what
one site would get by itself), plaintext split learning and Paillier-protected split learning,
the last two between two real `vfl train` processes over gRPC. All share the seed, the
train/validation split (80/20), the batch schedule, optimizer and learning rates. Every
party holds every patient (no extra IDs); PSI alignment runs once first and is not timed.

Printed per way: the metric after the last epoch, seconds per epoch (training + validation
pass, the label party's clock), the whole `vfl train` wall time (process start, data loading,
key generation) and bytes on the wire. `ratio` = protected ÷ plaintext seconds per epoch,
per dataset; the top-level `ratio` is the breast one. Ends with one JSON line.

Usage: .venv/bin/python scripts/bench/public.py [--key-bits 2048] [--datasets breast digits]
       [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# This directory holds psi.py, which would shadow the `psi` package: import from the root.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

from _stage2 import (  # noqa: E402
    PartySetup,
    fmt_bytes,
    load_local,
    machine,
    make_cohort,
    run_command,
    split_figures,
    train_local,
    write_configs,
    write_ids,
    write_labels,
    write_matrix,
)
from sklearn.datasets import load_breast_cancer, load_digits  # noqa: E402

LABEL, FEATURE = "outcomes", "site_b"
WAYS = ("pooled", "label_alone", "feature_alone", "plaintext", "protected")


@dataclass(frozen=True)
class Dataset:
    """A vertical split of one scikit-learn dataset and its training settings."""

    name: str
    x_label: np.ndarray
    x_feature: np.ndarray
    y: np.ndarray
    task: str
    metric: str
    train: dict[str, Any]
    tower: dict[str, Any]


def breast() -> Dataset:
    x, y = load_breast_cancer(return_X_y=True)
    train = {"epochs": 10, "batch_size": 64, "lr": 0.01, "interactive_width": 8, "hidden": [8]}
    tower = {"name": "tabular-mlp", "out_dim": 8, "options": {"hidden": [16]}}
    return Dataset("breast", x[:, :10], x[:, 10:], y, "binary", "val_auc", train, tower)


def digits() -> Dataset:
    x, y = load_digits(return_X_y=True)
    cols = np.arange(64) % 8
    train = {
        "epochs": 8,
        "batch_size": 128,
        "lr": 0.01,
        "interactive_width": 8,
        "hidden": [32],
        "task": "multiclass",
        "n_classes": 10,
    }
    tower = {"name": "tabular-mlp", "out_dim": 8, "options": {"hidden": [32]}}
    return Dataset(
        "digits", x[:, cols < 4], x[:, cols >= 4], y, "multiclass", "val_accuracy", train, tower
    )


def write_parties(root: Path, ds: Dataset, seed: int) -> tuple[PartySetup, PartySetup]:
    n = ds.y.shape[0]
    cohort = make_cohort([LABEL, FEATURE], n, extra=0, seed=seed)
    data = root / "data"
    classes = [str(k) for k in range(int(ds.y.max()) + 1)]
    labels = {
        "path": write_labels(cohort, LABEL, data / "labels.csv", ds.y),
        "column": "outcome",
        "task": ds.task,
        "classes": classes,
    }
    own = [f"a{j:02d}" for j in range(ds.x_label.shape[1])]
    other = [f"b{j:02d}" for j in range(ds.x_feature.shape[1])]
    label = PartySetup(
        LABEL,
        write_ids(cohort, LABEL, data / "label_ids.csv"),
        {
            "table": {"path": write_matrix(cohort, LABEL, data / "label.parquet", ds.x_label, own)},
            "labels": labels,
        },
        ds.tower,
    )
    feature = PartySetup(
        FEATURE,
        write_ids(cohort, FEATURE, data / "feature_ids.csv"),
        {
            "table": {
                "path": write_matrix(cohort, FEATURE, data / "feature.parquet", ds.x_feature, other)
            }
        },
        ds.tower,
    )
    return label, feature


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_dataset(ds: Dataset, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    label, feature = write_parties(root, ds, args.seed)
    settings = {**ds.train, "key_bits": args.key_bits, "seed": args.seed, "val_fraction": 0.2}
    configs = {
        p: write_configs(root, label, [feature], {**settings, "protection": p}, p, run_id=ds.name)
        for p in ("plaintext", "paillier")
    }
    aligned = run_command(configs["plaintext"], "align", timeout_s=600)
    res: dict[str, Any] = {"n_aligned": aligned.summaries[LABEL]["sizes"]["final"]}
    local_label = load_local(configs["plaintext"][LABEL])
    local_feature = load_local(configs["plaintext"][FEATURE])
    res["pooled"] = train_local(local_label, [local_feature], own_tower=True)
    res["label_alone"] = train_local(local_label, [], own_tower=True)
    res["feature_alone"] = train_local(local_label, [local_feature], own_tower=False)
    for name, protection in (("plaintext", "plaintext"), ("protected", "paillier")):
        res[name] = split_figures(run_command(configs[protection], "train", 3600), LABEL)
        log(f"{ds.name} {name}: {res[name][ds.metric]:.4f}, {res[name]['s_per_epoch']:.2f} s/epoch")
    res["metric"] = ds.metric
    res["epochs"] = ds.train["epochs"]
    res["ratio"] = res["protected"]["s_per_epoch"] / res["plaintext"]["s_per_epoch"]
    return res


def report(ds_name: str, res: dict[str, Any]) -> None:
    metric = res["metric"]
    print(f"\n== {ds_name}: {res['n_aligned']} patients, {res['epochs']} epochs, {metric} ==")
    print(f"{'':<16}{metric:>14}{'s/epoch':>10}{'train wall s':>14}{'wire bytes':>14}")
    for way in WAYS:
        r = res[way]
        wall = f"{r['wall_s']:.1f}" if "wall_s" in r else "-"
        wire = fmt_bytes(r["bytes_total"]) if "bytes_total" in r else "-"
        print(f"{way:<16}{r[metric]:>14.4f}{r['s_per_epoch']:>10.3f}{wall:>14}{wire:>14}")
    print(f"ratio protected / plaintext s/epoch: {res['ratio']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--key-bits", type=int, default=2048, choices=(1024, 2048, 3072))
    parser.add_argument(
        "--datasets", nargs="+", default=["breast", "digits"], choices=("breast", "digits")
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    before = machine()
    makers = {"breast": breast, "digits": digits}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="vfl-bench-public-") as tmp:
        base = args.out or Path(tmp)
        for name in args.datasets:
            results[name] = run_dataset(makers[name](), base / name, args)
    for name, res in results.items():
        report(name, res)
    end = machine()["load_avg"]
    print(
        f"\nmachine: {before['cpu']}, {before['cores']} cores, {before['mem_gib']} GiB; "
        f"{args.key_bits}-bit keys; load avg {before['load_avg']} at start, {end} at end"
    )
    summary = {
        "benchmark": "public",
        "command": " ".join(sys.argv),
        "machine": before,
        "load_avg_end": end,
        "key_bits": args.key_bits,
        "ratio": results[args.datasets[0]]["ratio"],
        **results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
