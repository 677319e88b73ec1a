"""`vfl align --resume` after a party was killed with SIGKILL at several points.

Real `vfl align` processes over gRPC on loopback. A party is killed when its own transcript
shows the run reached a point (the first messages; the bucket exchange under way), or kills
itself inside its output write through `VFL_FAULT_INJECT` (`psi.outputs`). Every party is then
rerun with `--resume`, and each `aligned.parquet` must equal, byte for byte, the one an
uninterrupted run wrote (fresh ECDH keys, salt and bucket key every run), with no temporary
file left anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_align_processes import EXIT_ALIGN, EXIT_PEER, Study, assert_ok, cohort, shuffled

from vfl.party.launch import wait_listening

BUCKETS = 10  # 2,000 IDs per party in buckets of 200: a bucket phase long enough to hit
CLI = [sys.executable, "-c", "from vfl.cli import main; main()", "align", "--insecure"]


def _study(root: Path) -> Study:
    common = cohort("PAT", 1_500, 1)
    align = {"bucket_size": 200, "workers": 2}
    s = Study(root)
    label_ids = shuffled(common + cohort("L", 500, 2), 3)
    s.party("label", "label", label_ids, features=["imaging"], align=align, network={"wait_s": 8})
    s.party("imaging", "feature", shuffled(common + cohort("I", 500, 4), 5), align=align)
    return s


def _outputs(s: Study) -> dict[str, bytes]:
    return {n: (s.workdir(n) / "aligned.parquet").read_bytes() for n in ("label", "imaging")}


def _assert_clean(s: Study) -> None:
    for name in ("label", "imaging"):
        names = sorted(p.name for p in s.workdir(name).iterdir())
        assert names == ["aligned.parquet", "alignment.json"], names


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The outputs of an uninterrupted run."""
    s = _study(tmp_path_factory.mktemp("reference"))
    runs = s.run()
    assert_ok(runs)
    assert runs["label"].summary()["n_buckets"] == [BUCKETS]
    expected = sorted(set(s.ids["label"]) & set(s.ids["imaging"]))
    assert s.aligned_ids("label") == s.aligned_ids("imaging") == expected
    return _outputs(s)


def _steps(transcript: Path, step: str) -> int:
    if not transcript.exists():
        return 0
    return transcript.read_text(errors="replace").count(f'"step":"{step}"')


# victim -> where its transcript shows it is: (step, how many lines of it)
POINTS = {
    "hello": ("align.hello", 2),  # the first round trip is done, no bucket yet
    "buckets": ("align.response", 4),  # some buckets answered, most not
}


def _kill_when(proc: subprocess.Popen[bytes], transcript: Path, point: str) -> None:
    step, count = POINTS[point]
    deadline = time.monotonic() + 120
    while _steps(transcript, step) < count:
        assert proc.poll() is None, "the victim finished before the kill point"
        assert time.monotonic() < deadline, f"{point} never reached"
        time.sleep(0.01)
    proc.kill()  # SIGKILL


def _interrupted_run(s: Study, victim: str, point: str) -> tuple[int, str]:
    """Start both parties, kill `victim` at `point`; return the survivor's exit code, stderr."""
    transcript = s.tmp / f"{victim}.jsonl"
    env = dict(os.environ)
    if ":" in point:  # a fault-injection point: the victim kills itself
        env["VFL_FAULT_INJECT"] = point
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("label", "imaging"):
            cmd = [*CLI, "--config", str(s.configs[name])]
            if name == victim:
                cmd += ["--transcript", str(transcript)]
            procs[name] = subprocess.Popen(
                cmd, stderr=subprocess.PIPE, env=env if name == victim else None
            )
            if name == "label":
                wait_listening(f"127.0.0.1:{s.port}", 30)
        if ":" not in point:
            _kill_when(procs[victim], transcript, point)
        errs = {n: p.communicate(timeout=120)[1].decode() for n, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert procs[victim].returncode == -9, errs[victim][-2000:]  # died of SIGKILL
    survivor = "imaging" if victim == "label" else "label"
    return procs[survivor].returncode, errs[survivor]


def _assert_killed_mid_protocol(s: Study, victim: str, point: str) -> None:
    transcript = s.tmp / f"{victim}.jsonl"
    if point == "hello":
        assert _steps(transcript, "align.setup") < 2 * BUCKETS
    if point == "buckets":
        assert _steps(transcript, "align.response") < 2 * BUCKETS
    assert _steps(transcript, "align.final") == 0  # the run never got to the final set


SURVIVOR_EXIT = {  # the other party stops with a clear error, or had already finished
    ("label", "hello"): EXIT_PEER,
    ("label", "buckets"): EXIT_PEER,
    ("imaging", "hello"): EXIT_ALIGN,
    ("imaging", "buckets"): EXIT_ALIGN,
    ("imaging", "before-rename"): 0,
    ("label", "after-rename"): 0,
}
# One case per kill point in the default run (about 45 s with the reference and the two tests
# below); killing the feature party mid-protocol costs the label party's wait_s (8 s) more.
CASES = [
    ("label", "buckets"),
    ("imaging", "before-rename:aligned.parquet"),
    ("label", "after-rename:aligned.parquet"),
]
SLOW_CASES = [("label", "hello"), ("imaging", "hello"), ("imaging", "buckets")]


def _kill_then_resume(tmp_path: Path, reference: dict[str, bytes], victim: str, point: str):
    s = _study(tmp_path)
    code, err = _interrupted_run(s, victim, point)
    assert code == SURVIVOR_EXIT[victim, point.split(":")[0]], err[-2000:]
    assert "Traceback" not in err
    if ":" not in point:
        _assert_killed_mid_protocol(s, victim, point)
    for name in ("label", "imaging"):  # whatever is there is whole: never a half-written output
        aligned = s.workdir(name) / "aligned.parquet"
        if aligned.exists():
            assert aligned.read_bytes() == reference[name]
        summary = s.workdir(name) / "alignment.json"
        if summary.exists():
            json.loads(summary.read_text())

    runs = s.run(args=["--resume"])
    assert_ok(runs)
    assert _outputs(s) == reference
    _assert_clean(s)
    return s, {n: r.summary()["resume"] for n, r in runs.items()}


@pytest.mark.parametrize(("victim", "point"), CASES)
def test_kill_then_resume_gives_the_same_aligned_rows(tmp_path, reference, victim, point):
    _, reports = _kill_then_resume(tmp_path, reference, victim, point)
    if point == "before-rename:aligned.parquet":
        # the label party had finished; the feature party died with its temp file written
        assert reports["label"] == {
            "previous": "complete",
            "leftovers": 0,
            "same_inputs": True,
            "unchanged": True,
        }
        assert reports["imaging"] == {"previous": "interrupted", "leftovers": 1}
    elif point == "after-rename:aligned.parquet":
        # aligned.parquet in place, but no alignment.json: not a completed run
        assert reports["label"] == {"previous": "interrupted", "leftovers": 0}
    else:
        assert reports[victim]["previous"] == "none"


@pytest.mark.slow
@pytest.mark.parametrize(("victim", "point"), SLOW_CASES)
def test_kill_early_then_resume_gives_the_same_aligned_rows(tmp_path, reference, victim, point):
    _kill_then_resume(tmp_path, reference, victim, point)


def test_resume_after_a_completed_run_reports_it_and_writes_the_same_bytes(tmp_path, reference):
    s = _study(tmp_path)
    assert_ok(s.run())
    first = _outputs(s)
    runs = s.run(args=["--resume"])
    assert_ok(runs)
    assert _outputs(s) == first == reference  # new ECDH keys, salt and bucket key: same rows
    for r in runs.values():
        assert r.summary()["resume"] == {
            "previous": "complete",
            "leftovers": 0,
            "same_inputs": True,
            "unchanged": True,
        }
    digests = {r.summary()["digest"] for r in runs.values()}
    assert len(digests) == 1  # both parties agree, under this run's fresh salt
    _assert_clean(s)


def test_resume_with_other_inputs_at_a_peer_says_so(tmp_path):
    s = _study(tmp_path)
    assert_ok(s.run())
    fewer = [i for i in s.ids["imaging"] if i not in cohort("PAT", 50, 1)]
    s.party("imaging", "feature", fewer, align={"bucket_size": 200, "workers": 2})
    runs = s.run(args=["--resume"])
    assert_ok(runs)
    assert runs["imaging"].summary()["resume"]["same_inputs"] is False
    label = runs["label"].summary()["resume"]
    assert label["same_inputs"] is True and label["unchanged"] is False  # the peer changed
    assert len(s.aligned_ids("label")) == 1_450
    assert "shared set changed" in runs["label"].stderr
