"""`vfl demo` end to end as a real process: cohort, align, train, predict, audit, report.

The small case uses 1024-bit keys through the explicit `--key-bits` flag (the only way to get
them) to stay well under three minutes; the slow case runs the defaults (2048-bit keys).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from vfl.cli import cli
from vfl.demo.parties import StageRun, run_stage
from vfl.errors import AlignmentError
from vfl.party.launch import free_port, write_config

CLI = "from vfl.cli import main; main()"
PNG = b"\x89PNG\r\n\x1a\n"


def _demo(out: Path, *args: str, timeout: float) -> tuple[dict, str, float]:
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "demo", "--out", str(out), "--run-id", "ci", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.monotonic() - began
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout), proc.stderr, seconds


def _check_run(summary: dict, root: Path) -> None:
    report = Path(summary["report"])
    assert report == root / "report.md" and report.is_file()
    text = report.read_text()
    for name, plot in summary["plots"].items():
        path = Path(plot)
        assert path.read_bytes()[:8] == PNG, name
        assert str(path.relative_to(root)) in text, name
    assert json.loads((root / "summary.json").read_text())["run_id"] == "ci"

    audit = summary["audit"]
    assert audit["ok"] and audit["scan_ok"] and audit["scan_findings"] == 0
    assert audit["scan_payloads"] > 0 and audit["scan_ids"] > 0
    checked = {(v["stage"], v["party"]) for v in audit["verified"] if v["ok"] and v["matched"]}
    stages = ("align", "train", "predict")
    assert checked == {(s, p) for s in stages for p in ("imaging", "genomics")}
    assert "**PASS**" in text and (root / "audit_scan.md").is_file()

    held = summary["heldout"]
    assert held["n"] >= 50 and 0 < held["positives"] < held["n"]
    assert 0.0 <= held["auc"] <= 1.0
    assert set(held["left_out_auc"]) == {"imaging", "genomics"}
    assert held["harness_max_diff"] < 1e-3  # the harness reproduces `vfl predict`
    for stage in stages:
        assert summary["stages"][stage]["seconds"] > 0
        assert summary["stages"][stage]["bytes"] > 0
    for party in ("label", "imaging", "genomics"):
        figures = summary["parties"][party]
        assert figures["shared"] <= figures["ids"]
        assert figures["train_sent"] > 0 and figures["predict_received"] > 0
        assert (root / "cohort" / f"{party}.toml").is_file()
        assert (root / "cohort" / f"{party}.heldout.toml").is_file()


def test_demo_small_end_to_end(tmp_path: Path) -> None:
    summary, stderr, seconds = _demo(
        tmp_path,
        *("--n-shared", "300", "--epochs", "2", "--key-bits", "1024", "--format", "json"),
        timeout=300,
    )
    _check_run(summary, tmp_path / "ci")
    assert len(summary["history"]) == 2
    assert summary["settings"]["key_bits"] == 1024
    assert "1024-bit Paillier keys are insecure" in stderr  # never silently
    assert "train: done" in stderr  # progress goes to stderr, stdout holds only JSON
    assert summary["settings"]["transport"] == "gRPC over mutual TLS"
    assert (tmp_path / "ci" / "cohort" / "certs" / "ca.pem").is_file()


@pytest.mark.slow
def test_demo_defaults_finish_in_five_minutes_and_learn(tmp_path: Path) -> None:
    summary, _, seconds = _demo(tmp_path, "--format", "json", timeout=900)
    _check_run(summary, tmp_path / "ci")
    assert summary["settings"]["key_bits"] == 2048
    assert summary["heldout"]["auc"] > 0.6, summary["heldout"]
    assert seconds < 300, seconds


def test_help_explains_the_way_to_ones_own_data() -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    for needle in ("[align]", "ids_file", "[data.image]", "[data.genomics]", "[data.labels]"):
        assert needle in result.output
    assert "vfl certs init" in result.output and "vfl predict" in result.output


def test_existing_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--run-id", "ci"])
    assert result.exit_code != 0
    assert "already exists" in str(result.exception)


def test_a_failing_party_is_named_with_its_log(tmp_path: Path) -> None:
    port = free_port()
    label = write_config(
        tmp_path / "label.toml",
        {
            "party": {"name": "label", "role": "label", "run_id": "r", "workdir": tmp_path},
            "network": {"listen": f"127.0.0.1:{port}", "feature_parties": ["imaging"]},
            "align": {"ids_file": tmp_path / "missing.csv", "id_column": "patient_id"},
        },
    )
    run = StageRun("align", "align", {"label": label}, {}, "label", f"127.0.0.1:{port}")
    with pytest.raises(AlignmentError) as info:
        run_stage(run, tmp_path / "logs", credentials=None, timeout_s=120)
    message = str(info.value)
    assert "stage 'align'" in message and "party label" in message
    assert str(tmp_path / "logs" / "label.align.err") in message


def test_public_api_is_pinned() -> None:
    import vfl.demo

    assert vfl.demo.__all__ == ["DemoOptions", "DemoReport", "run_demo"]
    for name in vfl.demo.__all__:
        assert getattr(vfl.demo, name) is not None
