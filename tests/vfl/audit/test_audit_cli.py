"""`vfl audit verify` and `vfl audit scan` through click and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

import vfl.audit
from vfl.cli import EXIT_CODES, cli
from vfl.errors import AuditError

Pair = Callable[..., tuple[Path, Path]]


def _ids(tmp_path: Path, *ids: str) -> Path:
    path = tmp_path / "ids.csv"
    path.write_text("patient_id\n" + "".join(f"{i}\n" for i in ids))
    return path


def test_exports_pinned() -> None:
    assert vfl.audit.__all__ == [
        "DEFAULT_TRAIN_STEPS",
        "EXTRACTORS",
        "CiphertextBlob",
        "Extractor",
        "Finding",
        "Message",
        "ParsedTranscript",
        "PublicKeyRecord",
        "ScanIds",
        "ScanReport",
        "Transcript",
        "VerifyReport",
        "generic_extractor",
        "load_transcript",
        "read_scan_ids",
        "register_extractor",
        "scan",
        "scan_markdown",
        "scan_summary",
        "unrandomized_ciphertexts",
        "verify",
        "verify_summary",
        "verify_text",
    ]


def test_verify_ok_and_json(pair: Pair) -> None:
    a, b = pair()
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "verify", str(a), "--peer", str(b)])
    assert result.exit_code == 0, result.output
    assert "messages matched between the two parties: 5" in result.stdout
    result = runner.invoke(cli, ["audit", "verify", str(a), "--format", "json"])
    assert json.loads(result.stdout)["ok"] is True


def test_verify_names_edit(pair: Pair) -> None:
    a, b = pair()
    lines = a.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace('"seq":1', '"seq":9')
    a.write_text("".join(lines))
    result = CliRunner().invoke(cli, ["audit", "verify", str(a), "--peer", str(b)])
    assert isinstance(result.exception, AuditError)
    assert "imaging.jsonl line 4 (seq 9): [chain.edited]" in result.stdout


ALIGN_ONLY = [("imaging", "align.setup", b"\x0a\x03abc"), ("label", "align.request", b"\x0a\x01z")]


def test_scan_writes_report(pair: Pair, tmp_path: Path) -> None:
    a, b = pair(ALIGN_ONLY)
    ids = _ids(tmp_path, "P000001", "P000002")
    report = tmp_path / "out" / "scan.md"
    args = ["audit", "scan", "--ids", str(ids), "--id-column", "patient_id", str(a), str(b)]
    result = CliRunner().invoke(cli, [*args, "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("PASS")
    assert "# Audit scan report" in report.read_text()
    result = CliRunner().invoke(cli, args)  # report on stdout
    assert "**PASS**" in result.stdout
    a, b = pair()  # training messages but no Paillier key recorded: cannot be checked
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, AuditError)
    assert "scan.no-key" in result.stdout


def test_scan_finds_planted_id_as_process(pair: Pair, tmp_path: Path) -> None:
    a, b = pair([("imaging", "align.setup", b"\x0a\x07P000002")])
    ids = _ids(tmp_path, "P000001", "P000002")
    vfl_bin = str(Path(sys.executable).parent / "vfl")
    cmd = [vfl_bin, "audit", "scan", "--ids", str(ids), "--format", "json"]
    proc = subprocess.run(
        [*cmd, str(a), str(b)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == EXIT_CODES[AuditError], proc.stderr
    summary = json.loads(proc.stdout)
    assert [(f["check"], f["line"], f["seq"]) for f in summary["findings"]] == [
        ("scan.id-leak", 2, 0)
    ]
    assert "row 2 of ids.csv" in summary["findings"][0]["detail"]
    assert "P000002" not in proc.stdout + proc.stderr
    assert "error: scan found 1 finding(s)" in proc.stderr


def test_scan_missing_ids_file(pair: Pair, tmp_path: Path) -> None:
    a, _ = pair()
    result = CliRunner().invoke(cli, ["audit", "scan", "--ids", str(tmp_path / "no.csv"), str(a)])
    assert "ID file not found" in str(result.exception)
