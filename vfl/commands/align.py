"""`vfl align`: find the patients this party shares with the others (ECDH PSI)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from vfl.commands._options import format_option, insecure_option
from vfl.config import load_config

__all__ = ["COMMANDS", "align_command", "progress_bar"]

ProgressFn = Callable[[str, int, int], None]


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressFn]:
    """A rich progress bar on stderr, updated through the returned callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"{label}: {step} buckets", completed=done, total=total)

        yield update


def _text(summary: dict[str, Any]) -> str:
    sizes = summary["sizes"]
    lines = [
        f"party {summary['party']} ({summary['role']}), run {summary['run_id']}",
        f"  IDs read: {sizes['input_rows']} rows, {sizes['valid_ids']} valid",
    ]
    if "final" in sizes:
        lines.append(f"  shared: {sizes['final']} (visibility {summary['policy']['visibility']})")
    if "pairwise" in sizes:
        lines.append(f"  pairwise sizes: {sizes['pairwise']}")
    if summary.get("dropped"):
        lines.append(f"  dropped: {summary['dropped']}")
    lines.append(f"  outputs: {', '.join(summary['outputs'])} in {summary['workdir']}")
    if "resume" in summary:
        lines.append(f"  resumed: {_resume_text(summary['resume'])}")
    lines.append(f"  time: {summary['timings_s']['total']:.1f} s")
    return "\n".join(lines)


def _resume_text(report: dict[str, Any]) -> str:
    if report["previous"] == "none":
        return "no earlier run here; aligned from the start"
    if report["previous"] == "interrupted":
        return f"an interrupted run was cleaned up ({report['leftovers']} temporary files)"
    if not report["same_inputs"]:
        return "the earlier completed run had other inputs or settings; replaced"
    if report["unchanged"]:
        return "the earlier run had completed with the same inputs; outputs unchanged"
    return "same inputs here, but the shared set changed (another party's inputs changed)"


@click.command("align")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="This party's TOML config ([party], [network], [align]).",
)
@format_option
@insecure_option
@click.option(
    "--transcript",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Append every wire message to this hash-chained audit transcript (JSONL).",
)
@click.option(
    "--capture-payloads",
    is_flag=True,
    help="Store message payloads in the transcript too (needed by `vfl audit scan`).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="After a crash: rerun cleanly over what the killed run left, and report it.",
)
def align_command(
    config_path: Path,
    fmt: str,
    insecure: bool,
    transcript: Path | None,
    capture_payloads: bool,
    resume: bool,
) -> None:
    """Find the patients this party shares with the others, without revealing the rest.

    \b
    Run at every party at the same time, each with its own config:
      label party    serves gRPC on [network] listen; waits for every feature party
      feature party  connects out to [network] peer (the label party); never listens

    The parties run ECDH private set intersection (openmined-psi, P-256) in parallel buckets;
    only elliptic-curve points, counts and digests cross the wire. Policy ([align], equal at
    every party): visibility = "both" | "label-only" | "size-only", min_intersection (default
    100: below it every party stops and writes nothing).

    \b
    Outputs in [party] workdir (earlier outputs are removed first; written atomically):
      aligned.parquet  column `row`: this party's file row for shared positions 0..n-1
      alignment.json   sizes, policy, salted digest of the shared order, timings

    \b
    After a crash (any party killed, even with kill -9), restart every party, with --resume:
      alignment keeps no intermediate state, so it runs again from the start over whatever
      the killed run left (temporary files are removed; outputs are never half-written).
      The shared order is the sorted order of the normalized IDs, whatever the run's fresh
      keys, so the same inputs give the same aligned.parquet, byte for byte, at every party.
      --resume is accepted whether or not a run was killed. The summary's "resume" field says
      what was found: no earlier run, an interrupted one, or a completed one, and then
      whether its inputs were the same and aligned.parquet came out unchanged.
      (alignment.json differs between runs: timings, and a digest salted afresh each run.)

    Relative paths in the config are relative to the config file. Progress goes to stderr,
    the summary to stdout (--format json for scripts).
    """  # noqa: D301  (click needs the literal \b markers)
    from psi.run import align

    overrides = {"network": {"insecure": True}} if insecure else None
    cfg = load_config(config_path, overrides=overrides)
    with ExitStack() as stack:
        observer = None
        if transcript is not None:
            from vfl.audit import Transcript

            observer = stack.enter_context(
                Transcript(
                    transcript,
                    run_id=cfg.party.run_id,
                    party=cfg.party.name,
                    capture=capture_payloads,
                )
            )
        update = stack.enter_context(progress_bar(f"align ({cfg.party.name})"))
        summary = align(cfg.psi, observer=observer, progress=update, resume=resume)
    summary = {**summary, "workdir": str(cfg.party.workdir)}
    click.echo(json.dumps(summary, sort_keys=True) if fmt == "json" else _text(summary))


COMMANDS = [align_command]
