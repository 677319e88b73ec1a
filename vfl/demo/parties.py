"""Run one stage (`vfl align`, `vfl train`, `vfl predict`) at every party, each its own process.

The label party starts first and is waited for with `grpc.channel_ready_future` through
`vfl.party.launch.wait_listening` (never a sleep); then every feature party starts. Each
process writes its stdout and stderr to `logs/<party>.<stage>.out|err`. Every process still
running when the stage ends or fails is killed. A failure names the stage, each party that
failed, its last error line and its log file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from vfl.errors import AlignmentError, TrainingError, VflError
from vfl.party.launch import wait_listening

__all__ = ["StageResult", "StageRun", "run_stage"]

_CLI = "from vfl.cli import main; main()"


@dataclass(frozen=True)
class StageRun:
    """One stage to run: the `vfl` command and, per party, its config and extra arguments."""

    stage: str
    command: str
    configs: Mapping[str, Path]
    args: Mapping[str, Sequence[str]]
    label: str
    label_address: str


@dataclass(frozen=True)
class StageResult:
    """What every party printed (its JSON summary) and the stage's wall time."""

    stage: str
    summaries: dict[str, dict[str, Any]]
    seconds: float


def _start(run: StageRun, party: str, logs: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out, err = logs / f"{party}.{run.stage}.out", logs / f"{party}.{run.stage}.err"
    cmd = [
        sys.executable,
        "-c",
        _CLI,
        run.command,
        "--config",
        str(run.configs[party]),
        "--format",
        "json",
        *run.args.get(party, ()),
    ]
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe)
    return proc, out, err


def _last_error(err: Path) -> str:
    lines = [ln.strip() for ln in err.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or ["(no output)"])[-1]


def _failure(run: StageRun, failed: list[tuple[str, int, Path]]) -> VflError:
    parts = [
        f"party {party} exited with {code}: {_last_error(err)} (log: {err})"
        for party, code, err in failed
    ]
    message = f"stage {run.stage!r} failed: " + "; ".join(parts)
    return AlignmentError(message) if run.command == "align" else TrainingError(message)


def _wait_all(
    started: dict[str, tuple[subprocess.Popen[bytes], Path, Path]], timeout_s: float
) -> None:
    """Wait until every process exits, or one fails (the others would wait for it in vain)."""
    deadline = time.monotonic() + timeout_s
    procs = [proc for proc, _, _ in started.values()]
    while any(p.poll() is None for p in procs):
        if any(p.returncode for p in procs):
            return
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired("vfl", timeout_s)
        running = next(p for p in procs if p.returncode is None)
        try:
            running.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass


def _wait_label(
    run: StageRun,
    label: tuple[subprocess.Popen[bytes], Path, Path],
    credentials: grpc.ChannelCredentials | None,
    timeout_s: float = 120.0,
) -> None:
    """Wait until the label party listens, or has exited (then its exit code tells why)."""
    proc, _, log = label
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        try:
            wait_listening(run.label_address, 1.0, credentials)
            return
        except VflError as exc:
            if time.monotonic() > deadline:
                raise TrainingError(f"stage {run.stage!r}: {exc} (log: {log})") from exc


def run_stage(
    run: StageRun,
    logs: Path,
    *,
    credentials: grpc.ChannelCredentials | None,
    timeout_s: float = 900.0,
) -> StageResult:
    """Run `run.command` at every party and collect their JSON summaries.

    Raises:
        AlignmentError: an align stage failed (naming the party and its log).
        TrainingError: a train or predict stage failed, or timed out.
    """
    logs.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    started: dict[str, tuple[subprocess.Popen[bytes], Path, Path]] = {}
    try:
        started[run.label] = _start(run, run.label, logs)
        _wait_label(run, started[run.label], credentials)
        if started[run.label][0].poll() is None:
            for party in run.configs:
                if party != run.label:
                    started[party] = _start(run, party, logs)
        _wait_all(started, timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise TrainingError(
            f"stage {run.stage!r} did not finish within {timeout_s:.0f} s; logs in {logs}"
        ) from exc
    finally:
        for proc, _, _ in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    failed = [(p, proc.returncode, err) for p, (proc, _, err) in started.items() if proc.returncode]
    failed.sort(key=lambda f: f[1] < 0)  # parties killed after another failed come last
    if failed:
        raise _failure(run, failed)
    summaries = {p: _summary(run, p, out) for p, (_, out, _) in started.items()}
    return StageResult(run.stage, summaries, time.perf_counter() - began)


def _summary(run: StageRun, party: str, out: Path) -> dict[str, Any]:
    try:
        data = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(
            f"stage {run.stage!r}: party {party} printed no JSON summary (see {out})"
        ) from exc
    if not isinstance(data, dict):
        raise TrainingError(f"stage {run.stage!r}: party {party}'s summary is not an object")
    return data
