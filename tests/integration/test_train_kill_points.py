"""Kill -9 during training and prediction beyond mid-epoch, through the CLI as real processes.

Checkpoint writes: a party dies inside its epoch-end save, either with the temporary file
written but not yet renamed (`before-rename`) or with the checkpoint in place but not yet
confirmed to the label party (`after-rename`), via `VFL_FAULT_INJECT` (`psi.outputs`). The
run is resumed with `vfl train --resume` and must end with the model of an uninterrupted run.
Prediction: the label party dies inside the predictions write, or a feature party is killed
mid-prediction; a rerun gives the predictions of an uninterrupted run. No temporary file and no
half-written output is ever left behind. One feature party and 1024-bit keys keep it small.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from stage2_cohort import label_address, make_cohort
from test_train_cli import _close, _model, _run_all, _run_all_predict, _start

from vfl.party.launch import wait_listening

PARTIES = ("imaging",)
TRAIN = {"epochs": 2}


def _temporaries(root: Path) -> list[Path]:
    return sorted((root / "work").rglob(".vfl-tmp-*"))


def _predictions(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "new" / "work" / "label" / "predictions.parquet")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted align and train of the same cohort and seed."""
    root = tmp_path_factory.mktemp("reference")
    configs = make_cohort(root, PARTIES, train=TRAIN)
    _run_all(configs, "align")
    _run_all(configs, "train")
    return root


@pytest.fixture(scope="module")
def predicted(reference: Path) -> Path:
    """The reference run, with an uninterrupted prediction for a new cohort."""
    _run_all_predict(
        make_cohort(reference / "new", PARTIES, train=TRAIN, run_id="predict-1"), reference
    )
    return reference


def _start_all(configs, command, *extra, logs, victim=None, fault=None, model=None):
    """Start the label party, wait for it, then the feature parties; `victim` gets `fault`."""
    procs = {}
    for name in ("label", *PARTIES):
        args = [*extra, *(["--model", str(model / "work" / name / "model")] if model else [])]
        if name == victim and fault:
            with mock.patch.dict(os.environ, {"VFL_FAULT_INJECT": fault}):
                procs[name] = _start(configs[name], command, *args, logs=logs)
        else:
            procs[name] = _start(configs[name], command, *args, logs=logs)
        if name == "label":
            wait_listening(label_address(configs["label"]), 60)
    return procs


def _finish(procs, timeout=300):
    for name, p in procs.items():
        p.communicate(timeout=timeout)
        assert p.returncode == 0, f"{name} failed (exit {p.returncode})"


def _kill_all(procs):
    for p in procs.values():
        if p.poll() is None:
            p.kill()
        if p.stdout is not None and not p.stdout.closed:
            p.communicate()  # reap and close the pipe, also of a party that already exited


# Each case takes 25-40 s on 2 shared cores, after the reference run (about 40 s): only the
# first runs by default.
CHECKPOINT_CASES = [
    ("imaging", "before-rename"),  # a feature party dies inside its epoch-end checkpoint write
    pytest.param("label", "before-rename", marks=pytest.mark.slow),  # the label party, likewise
    pytest.param("imaging", "after-rename", marks=pytest.mark.slow),  # saved, not yet confirmed
]


@pytest.mark.parametrize(("victim", "point"), CHECKPOINT_CASES)
def test_crash_inside_a_checkpoint_write_then_resume_gives_the_same_model(
    tmp_path, reference, victim, point
):
    configs = make_cohort(tmp_path, PARTIES, train=TRAIN)
    _run_all(configs, "align")
    checkpoints = tmp_path / "work" / victim / "checkpoints"
    fault = f"{point}:epoch-0002.pt"
    procs = _start_all(configs, "train", logs=tmp_path, victim=victim, fault=fault)
    try:
        procs[victim].communicate(timeout=300)
        assert procs[victim].returncode == -9  # killed itself with SIGKILL at the fault point
        saved = sorted(p.name for p in checkpoints.glob("epoch-*.pt"))
        temporaries = _temporaries(tmp_path)
        if point == "before-rename":  # never a half-written checkpoint, only the temp file
            assert saved == ["epoch-0001.pt"] and len(temporaries) == 1
        else:
            assert saved == ["epoch-0001.pt", "epoch-0002.pt"] and temporaries == []
        if victim == "label":  # everyone stops; all restart with --resume
            for name in PARTIES:
                procs[name].communicate(timeout=300)
                assert procs[name].returncode != 0
            procs = _start_all(configs, "train", "--resume", logs=tmp_path)
        else:  # the label party is still there: the feature party re-joins
            procs[victim] = _start(configs[victim], "train", "--resume", logs=tmp_path)
        _finish(procs)
    finally:
        _kill_all(procs)
    assert _temporaries(tmp_path) == []
    _close(_model(reference, "label")[1]["head"], _model(tmp_path, "label")[1]["head"])
    for name in PARTIES:
        _close(_model(reference, name)[1]["tower"], _model(tmp_path, name)[1]["tower"])


def _wait_for_lines(path: Path, step: str, count: int, proc, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or path.read_text(errors="replace").count(step) < count:
        assert proc.poll() is None, "the victim finished before the kill point"
        assert time.monotonic() < deadline, f"{step} never reached in {path}"
        time.sleep(0.05)


def _assert_same_predictions(reference: Path, root: Path) -> None:
    ref, got = _predictions(reference), _predictions(root)
    assert list(ref.columns) == list(got.columns)
    assert ref[["position", "row"]].equals(got[["position", "row"]])
    pd.testing.assert_series_equal(ref["prediction"], got["prediction"], atol=1e-6, rtol=0)


def _predict_setup(tmp_path: Path, reference: Path):
    """A trained model (copied from the reference run) and the new cohort's configs."""
    for name in ("label", *PARTIES):
        shutil.copytree(reference / "work" / name / "model", tmp_path / "work" / name / "model")
    return make_cohort(tmp_path / "new", PARTIES, train=TRAIN, run_id="predict-1")


@pytest.mark.slow
def test_label_party_killed_inside_the_predictions_write_then_a_rerun(tmp_path, predicted):
    new = _predict_setup(tmp_path, predicted)
    out = tmp_path / "new" / "work" / "label" / "predictions.parquet"
    fault = "before-rename:predictions.parquet"
    procs = _start_all(new, "predict", logs=tmp_path, victim="label", fault=fault, model=tmp_path)
    try:
        procs["label"].communicate(timeout=300)
        assert procs["label"].returncode == -9
        assert not out.exists() and len(_temporaries(tmp_path / "new")) == 1
        _kill_all(procs)  # whatever the feature party was doing, it is rerun too
    finally:
        _kill_all(procs)
    _run_all_predict(new, tmp_path)
    assert _temporaries(tmp_path / "new") == []
    _assert_same_predictions(predicted, tmp_path)


@pytest.mark.slow
def test_feature_party_killed_mid_prediction_rejoins_and_gives_the_same_predictions(
    tmp_path, predicted
):
    new = _predict_setup(tmp_path, predicted)
    transcript = tmp_path / "new" / "work" / "imaging" / "transcripts" / "predict.jsonl"
    procs = _start_all(new, "predict", logs=tmp_path, model=tmp_path)
    try:
        _wait_for_lines(transcript, '"step":"train.forward"', 2, procs["imaging"])
        procs["imaging"].kill()  # SIGKILL after its first batch, mid-prediction
        procs["imaging"].communicate()
        assert transcript.read_text().count('"step":"train.forward"') < 2 * 5  # of 5 batches
        assert not (tmp_path / "new" / "work" / "label" / "predictions.parquet").exists()
        model = str(tmp_path / "work" / "imaging" / "model")
        # its alignment is complete; it re-joins the label party, which is still serving
        procs["imaging"] = _start(
            new["imaging"], "predict", "--skip-align", "--model", model, logs=tmp_path
        )
        _finish(procs)
    finally:
        _kill_all(procs)
    assert _temporaries(tmp_path / "new") == []
    _assert_same_predictions(predicted, tmp_path)
