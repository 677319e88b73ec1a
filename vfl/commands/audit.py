"""`vfl audit`: verify transcripts and scan them for leaks."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from vfl.audit import (
    DEFAULT_TRAIN_STEPS,
    read_scan_ids,
    scan,
    scan_markdown,
    scan_summary,
    verify,
    verify_summary,
    verify_text,
)
from vfl.commands._options import format_option
from vfl.errors import AuditError, InputDataError

__all__ = ["COMMANDS"]


@click.group(name="audit")
def audit() -> None:
    """Check transcripts: chain integrity, agreement between parties, and leak scans."""


@audit.command(name="verify")
@click.argument("transcript", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--peer",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The other party's transcript of the same run: match it message by message.",
)
@format_option
def verify_cmd(transcript: Path, peer: Path | None, fmt: str) -> None:
    """Check a transcript's hash chain and, with --peer, that both parties agree.

    An edited, dropped or reordered line is named by line number and sequence number.
    Exits non-zero on any finding.
    """
    report = verify(transcript, peer)
    if fmt == "json":
        click.echo(json.dumps(verify_summary(report), sort_keys=True))
    else:
        click.echo(verify_text(report))
    if not report.ok:
        raise AuditError(f"verification failed: {len(report.findings)} finding(s)")


@audit.command(name="scan")
@click.argument(
    "transcripts", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--ids",
    "ids_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV or Parquet file with the IDs that must never appear on the wire.",
)
@click.option("--id-column", help="Column holding the IDs (default: the first column).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Markdown report here (default: print it, in text format).",
)
@click.option(
    "--allow-step",
    multiple=True,
    help="Allowed training step (glob; repeatable). Replaces the default list.",
)
@click.option(
    "--min-needle", default=6, show_default=True, help="Shortest encoding searched, in bytes."
)
@format_option
def scan_cmd(
    transcripts: tuple[Path, ...],
    ids_file: Path,
    id_column: str | None,
    report_path: Path | None,
    allow_step: tuple[str, ...],
    min_needle: int,
    fmt: str,
) -> None:
    """Scan transcripts for IDs on the wire, unexpected messages and weak ciphertexts.

    Shows that no ID, in any common encoding, crossed the wire, that training messages are of
    the expected kinds, and that every Paillier ciphertext was randomized.

    Needs transcripts recorded with payload capture on. Exits non-zero on any finding.
    """
    ids = read_scan_ids(ids_file, id_column)
    report = scan(
        list(transcripts),
        ids,
        allowed_train_steps=allow_step or DEFAULT_TRAIN_STEPS,
        min_needle=min_needle,
    )
    markdown = scan_markdown(report)
    if report_path is not None:
        _write_atomic(report_path, markdown)
    if fmt == "json":
        click.echo(json.dumps(scan_summary(report), sort_keys=True))
    elif report_path is None:
        click.echo(markdown, nl=False)
    else:
        verdict = "PASS" if report.ok else f"FAIL ({len(report.findings)} finding(s))"
        click.echo(f"{verdict}: report written to {report_path}")
    if not report.ok:
        raise AuditError(f"scan found {len(report.findings)} finding(s)")


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputDataError(f"cannot write report {path}: {exc}") from exc


COMMANDS = [audit]
