#!/usr/bin/env python
"""Benchmark: one architecture, one generated cohort, trained three ways (DESIGN §5 `train`).

  pooled     the same towers + a linear interactive layer + the same fusion head, trained
             in one process on the concatenated data (plain torch)
  plaintext  split learning between two real `vfl train` processes over gRPC
             ([train] protection = "plaintext")
  protected  the same with the Paillier-protected interactive layer (the default)

Workload (issue 4): n aligned patients; a 64×64 single-channel image per patient at the
imaging party (`image2d-cnn`); 2,000 SNP dosages per patient at the label party
(`genomics-mlp`, its own tower), which holds the binary outcome; embedding width 32,
interactive width 32, batch 256. The outcome depends on a lesion's brightness in the image,
on a polygenic score and on their product, so both modalities are needed. Every party holds
2 % extra patients of its own, so PSI alignment (run first, not timed here) has work to do.

Printed for each: validation AUC after the last epoch, seconds per epoch (training +
validation pass, the label party's clock) and bytes on the wire per epoch (everything the
label party sent and received, divided by the epochs). `ratio` = protected s/epoch ÷
plaintext s/epoch. Ends with one JSON line holding every figure.

Usage: .venv/bin/python scripts/bench/train.py [--n 20000] [--epochs 2] [--key-bits 2048]
       [--key-scheme subgroup|djn] [--out DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# This directory holds psi.py, which would shadow the `psi` package: import from the root.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

from _stage2 import (  # noqa: E402
    Cohort,
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

IMAGING, LABEL = "imaging", "outcomes"
SIDE, SNPS, CAUSAL = 64, 2000, 10


def generate(n_total: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (n, 64, 64) float16, dosages (n, 2000) uint8, outcomes (n,) of 0/1."""
    rng = np.random.default_rng([seed, 4])
    u_img = rng.normal(size=n_total)
    # A Gaussian lesion whose brightness follows u_img, at a jittered position, on noise.
    axis = np.arange(SIDE, dtype=np.float32)
    cy, cx = (SIDE / 2 + rng.uniform(-10, 10, (2, n_total))).astype(np.float32)
    width = rng.uniform(4.0, 7.0, n_total).astype(np.float32)
    gy = np.exp(-0.5 * ((axis[None, :] - cy[:, None]) / width[:, None]) ** 2)
    gx = np.exp(-0.5 * ((axis[None, :] - cx[:, None]) / width[:, None]) ** 2)
    amp = (1.5 + 0.6 * u_img).astype(np.float32)
    images = amp[:, None, None] * gy[:, :, None] * gx[:, None, :]
    images += rng.normal(0, 0.5, images.shape).astype(np.float32)
    images += rng.normal(0, 0.2, n_total).astype(np.float32)[:, None, None]  # scanner offset
    maf = rng.uniform(0.05, 0.5, SNPS)
    dosages = rng.binomial(2, maf, (n_total, SNPS)).astype(np.uint8)
    causal = rng.choice(SNPS, CAUSAL, replace=False)
    score = (dosages[:, causal] - 2 * maf[causal]) @ rng.normal(0, 1, CAUSAL)
    u_gen = (score - score.mean()) / score.std()
    logit = 1.0 * u_img + 1.0 * u_gen + 1.2 * u_img * u_gen - 0.2
    outcome = (rng.uniform(size=n_total) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return images.astype(np.float16), dosages, outcome


def write_cohort(root: Path, n: int, seed: int) -> tuple[PartySetup, PartySetup]:
    """Generate the data and write each party's files; return (label, imaging) setups."""
    cohort: Cohort = make_cohort([LABEL, IMAGING], n, extra=max(n // 50, 1), seed=seed)
    images, dosages, outcome = generate(cohort.n_total, seed)
    data = root / "data"
    image_path = data / "imaging_images.npy"
    data.mkdir(parents=True, exist_ok=True)
    np.save(image_path, images[cohort.rows[IMAGING]])
    names = [f"rs{j:05d}" for j in range(SNPS)]
    imaging = PartySetup(
        IMAGING,
        write_ids(cohort, IMAGING, data / "imaging_ids.csv"),
        {"image": {"format": "npy", "path": image_path, "shape": [SIDE, SIDE]}},
        {"name": "image2d-cnn", "out_dim": 32},
    )
    genomics = write_matrix(cohort, LABEL, data / "outcomes_dosages.parquet", dosages, names)
    label = PartySetup(
        LABEL,
        write_ids(cohort, LABEL, data / "outcomes_ids.csv"),
        {
            "genomics": {"format": "matrix", "path": genomics, "values": "dosage"},
            "labels": {
                "path": write_labels(cohort, LABEL, data / "outcomes_labels.csv", outcome),
                "column": "outcome",
                "task": "binary",
                "classes": ["0", "1"],
            },
        },
        {"name": "genomics-mlp", "out_dim": 32},
    )
    return label, imaging


def train_settings(args: argparse.Namespace, protection: str) -> dict[str, Any]:
    return {
        "protection": protection,
        "epochs": args.epochs,
        "batch_size": 256,
        "interactive_width": 32,
        "key_bits": args.key_bits,
        "key_scheme": args.key_scheme,
        "seed": args.seed,
        "lr": 0.002,
    }


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    label, imaging = write_cohort(root, args.n, args.seed)
    log(f"cohort written in {time.perf_counter() - t0:.1f} s under {root}")
    configs = {
        p: write_configs(root, label, [imaging], train_settings(args, p), p)
        for p in ("plaintext", "paillier")
    }
    aligned = run_command(configs["plaintext"], "align", timeout_s=1800)
    final = aligned.summaries[LABEL]["sizes"]["final"]
    log(f"aligned {final} patients in {aligned.wall_s:.1f} s")
    local_label = load_local(configs["plaintext"][LABEL])
    local_imaging = load_local(configs["plaintext"][IMAGING])
    results: dict[str, Any] = {"n_aligned": final}
    results["pooled"] = train_local(local_label, [local_imaging], own_tower=True)
    log(f"pooled: {_line(results['pooled'])}")
    del local_label, local_imaging
    for name, protection in (("plaintext", "plaintext"), ("protected", "paillier")):
        run_ = run_command(configs[protection], "train", timeout_s=args.timeout)
        results[name] = split_figures(run_, LABEL)
        log(f"{name}: {_line(results[name])}")
    return results


def _line(r: dict[str, Any]) -> str:
    return f"AUC {r['val_auc']:.4f}, {r['s_per_epoch']:.1f} s/epoch"


def report(args: argparse.Namespace, res: dict[str, Any], before: dict[str, Any]) -> None:
    cols = ("pooled", "plaintext", "protected")
    print(
        f"\n{res['n_aligned']} aligned patients, {args.epochs} epoch(s), batch 256, "
        f"d = h = 32, {args.key_bits}-bit keys"
    )
    print(f"{'':<24}{'pooled (1 process)':>20}{'plaintext SL':>16}{'protected SL':>16}")
    print(
        f"{'validation AUC':<24}"
        + "".join(f"{res[c]['val_auc']:>{w}.4f}" for c, w in zip(cols, (20, 16, 16), strict=True))
    )
    print(
        f"{'seconds / epoch':<24}"
        + "".join(
            f"{res[c]['s_per_epoch']:>{w}.2f}" for c, w in zip(cols, (20, 16, 16), strict=True)
        )
    )
    print(
        f"{'bytes on the wire / epoch':<24}{'-':>20}"
        + "".join(f"{fmt_bytes(res[c]['bytes_per_epoch']):>16}" for c in cols[1:])
    )
    for c in cols:
        epochs = ", ".join(f"{h['val_auc']:.4f} ({h['seconds']:.1f} s)" for h in res[c]["history"])
        print(f"  {c} per epoch: {epochs}")
    print(
        f"ratio protected / plaintext s/epoch: {res['ratio']:.1f}x (goal <= 30x); "
        f"AUC protected - plaintext: {res['auc_gap']:+.4f} (goal |gap| <= 0.005); "
        f"pooled - protected: {res['pooled']['val_auc'] - res['protected']['val_auc']:+.4f}"
    )
    print(
        f"machine: {before['cpu']}, {before['cores']} cores, {before['mem_gib']} GiB; "
        f"load avg {before['load_avg']} at start, {res['load_avg_end']} at end"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="aligned patients")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--key-bits", type=int, default=2048, choices=(1024, 2048, 3072))
    parser.add_argument(
        "--key-scheme", default="subgroup", choices=("subgroup", "djn"), help="both parties' keys"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="per training run, s")
    args = parser.parse_args()
    before = machine()
    if args.out is None:
        with tempfile.TemporaryDirectory(prefix="vfl-bench-train-") as tmp:
            res = run(args, Path(tmp))
    else:
        res = run(args, args.out)
    res["ratio"] = res["protected"]["s_per_epoch"] / res["plaintext"]["s_per_epoch"]
    res["auc_gap"] = res["protected"]["val_auc"] - res["plaintext"]["val_auc"]
    res["load_avg_end"] = machine()["load_avg"]
    report(args, res, before)
    summary = {
        "benchmark": "train",
        "command": " ".join(sys.argv),
        "machine": before,
        "n": args.n,
        "epochs": args.epochs,
        "key_bits": args.key_bits,
        "key_scheme": args.key_scheme,
        **res,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
