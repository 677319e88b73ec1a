"""Stage 2 through the CLI: real `vfl` processes talking gRPC on loopback.

Align, train a few epochs with Paillier protection (1024-bit test keys), kill a party
mid-epoch and resume, predict for a cohort; with 2 and 3 parties.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from stage2_cohort import label_address, make_cohort

from vfl.party import run_parties
from vfl.party.launch import wait_listening
from vfl.party.model import load_model_part

CLI = "from vfl.cli import main; main()"


def _run_all(configs, command, *extra):
    names = list(configs)
    procs = run_parties(
        configs["label"],
        [configs[n] for n in names if n != "label"],
        label_address=label_address(configs["label"]),
        args=["--insecure", *extra],
        command=command,
        timeout_s=300,
    )
    for p in procs:
        assert p.returncode == 0, f"{p.config.name} {command} failed:\n{p.stderr[-3000:]}"
    return {n: p.summary() for n, p in zip(names, procs, strict=True)}


def _start(config, command, *extra, logs):
    cmd = [
        sys.executable,
        "-c",
        CLI,
        command,
        "--config",
        str(config),
        "--insecure",
        "--format",
        "json",
        *extra,
    ]
    with open(logs / f"{config.stem}.{command}.{time.monotonic_ns()}.log", "wb") as err:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)


def _model(root, name):
    return load_model_part(root / "work" / name / "model")


def _close(a, b, atol=1e-4):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=1e-4)


@pytest.mark.parametrize("parties", [("imaging",), ("imaging", "genomics")])
def test_align_train_predict(tmp_path, parties):
    configs = make_cohort(tmp_path, parties)
    aligned = _run_all(configs, "align")
    assert {s["sizes"]["final"] for s in aligned.values()} == {160}

    trained = _run_all(configs, "train", "--capture-payloads")
    label = trained["label"]
    assert label["protection"] == "paillier" and label["epochs"] == 2
    assert len(label["history"]) == 2 and "val_auc" in label["history"][0]
    ids = {_model(tmp_path, n)[0]["model_id"] for n in configs}
    assert len(ids) == 1 and ids == {label["model_id"]}
    for name in parties:
        assert trained[name]["bytes"]["sent"] > 0
    _audit(tmp_path, parties)

    # A new cohort (the same seed, so the same people) under a new run: PSI, then prediction.
    new = make_cohort(tmp_path / "new", parties, run_id="predict-1")
    predicted = _run_all_predict(new, tmp_path)
    out = pd.read_parquet(predicted["label"]["predictions"])
    assert len(out) == 160 and out["prediction"].between(0, 1).all()
    for name in parties:
        assert not (tmp_path / "new" / "work" / name / "predictions.parquet").exists()


def _vfl(*args):
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True)


def _audit(root, parties):
    """Both sides' training transcripts agree, and no ID or unrandomized ciphertext is in them."""
    work = root / "work"
    label_t = work / "label" / "transcripts" / "train.jsonl"
    for name in parties:
        own = work / name / "transcripts" / "train.jsonl"
        verified = _vfl("audit", "verify", str(own), "--peer", str(label_t))
        assert verified.returncode == 0, verified.stdout + verified.stderr
    transcripts = [str(work / n / "transcripts" / "train.jsonl") for n in ("label", *parties)]
    for name in ("label", *parties):
        ids = root / "data" / f"{name}_ids.csv"
        scanned = _vfl(
            "audit", "scan", "--ids", str(ids), "--id-column", "patient_id", *transcripts
        )
        assert scanned.returncode == 0, scanned.stdout + scanned.stderr


def _run_all_predict(configs, root):
    names = list(configs)
    started = []
    for n in names:
        started.append(
            _start(configs[n], "predict", "--model", str(root / "work" / n / "model"), logs=root)
        )
        if n == "label":
            wait_listening(label_address(configs["label"]), 60)
    outs = {}
    for n, p in zip(names, started, strict=True):
        stdout, _ = p.communicate(timeout=300)
        assert p.returncode == 0, f"{n} predict failed"
        outs[n] = json.loads(stdout)
    return outs


def _wait_for(path: Path, timeout=240):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


@pytest.mark.parametrize("victim", ["imaging", "label"])
def test_kill_mid_epoch_then_resume_gives_the_same_model(tmp_path, victim):
    train = {"epochs": 6}  # an epoch takes ~0.3 s here: leave the kill room to land mid-run
    ref_root, run_root = tmp_path / "ref", tmp_path / "run"
    ref = make_cohort(ref_root, ("imaging", "genomics"), train=train)
    run = make_cohort(run_root, ("imaging", "genomics"), train=train)
    _run_all(ref, "align")
    _run_all(ref, "train")
    _run_all(run, "align")

    procs = {}
    procs["label"] = _start(run["label"], "train", logs=run_root)
    wait_listening(label_address(run["label"]), 60)
    for n in ("imaging", "genomics"):
        procs[n] = _start(run[n], "train", logs=run_root)
    try:
        _wait_for(run_root / "work" / "imaging" / "checkpoints" / "epoch-0001.pt")
        time.sleep(0.3)  # into epoch 2
        os.kill(procs[victim].pid, signal.SIGKILL)
        procs[victim].communicate()
        assert procs[victim].returncode == -signal.SIGKILL, "the run ended before the kill"
        if victim == "label":
            # Everyone stops when the label party is gone; restart them all with --resume.
            for n in ("imaging", "genomics"):
                procs[n].communicate(timeout=120)
            procs["label"] = _start(run["label"], "train", "--resume", logs=run_root)
            wait_listening(label_address(run["label"]), 60)
            for n in ("imaging", "genomics"):
                procs[n] = _start(run[n], "train", "--resume", logs=run_root)
        else:
            procs[victim] = _start(run[victim], "train", "--resume", logs=run_root)
        for n, p in procs.items():
            p.communicate(timeout=300)
            assert p.returncode == 0, f"{n} failed after resume"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()

    ref_label, run_label = _model(ref_root, "label")[1], _model(run_root, "label")[1]
    _close(ref_label["head"], run_label["head"])
    for n in ("imaging", "genomics"):
        _close(_model(ref_root, n)[1]["tower"], _model(run_root, n)[1]["tower"])
