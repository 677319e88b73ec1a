"""`vfl train` and `vfl predict`: stage 2 at one party."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from vfl.commands._options import format_option, insecure_option
from vfl.config import load_config

__all__ = ["COMMANDS", "predict_command", "train_command"]


class _Progress:
    """Turns runner events into rich progress bars on stderr and transcript key records."""

    def __init__(self, label: str, transcript: Any) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        console = Console(stderr=True)
        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=not console.is_terminal,
        )
        self.task = self.bar.add_task(label, total=None)
        self.label, self.transcript = label, transcript

    def __call__(self, kind: str, info: Mapping[str, Any]) -> None:
        if kind == "key" and self.transcript is not None:
            from vfl.audit import PublicKeyRecord

            self.transcript.add_key(
                PublicKeyRecord(owner=info["owner"], fingerprint=info["fingerprint"], n=info["n"])
            )
        elif kind == "batch" and "of" in info:
            self.bar.update(
                self.task,
                description=f"{self.label} epoch {info['epoch']}",
                completed=info["batch"],
                total=info["of"],
            )
        elif kind == "batch":
            self.bar.update(self.task, description=f"{self.label} epoch {info['epoch']}", advance=1)
        elif kind == "epoch":
            shown = {k: round(v, 4) for k, v in info.items() if isinstance(v, float)}
            self.bar.console.log(f"{self.label}: {shown}")
        elif kind == "rollback":
            self.bar.console.log(f"{self.label}: a party re-joined; resuming from the checkpoint")


@contextmanager
def _session(cfg: Any, stage: str, capture: bool) -> Iterator[tuple[Any, _Progress]]:
    from vfl.audit import Transcript

    with ExitStack() as stack:
        transcript = stack.enter_context(
            Transcript(
                cfg.party.workdir / "transcripts" / f"{stage}.jsonl",
                run_id=cfg.party.run_id,
                party=cfg.party.name,
                capture=capture,
            )
        )
        progress = _Progress(f"{stage} ({cfg.party.name})", transcript)
        stack.enter_context(progress.bar)
        yield transcript, progress


def _text(summary: Mapping[str, Any]) -> str:
    lines = [
        f"party {summary['party']} ({summary['role']}), {summary['mode']}, "
        f"protection {summary['protection']}",
    ]
    for row in summary.get("history", []):
        shown = ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
        lines.append(f"  epoch {int(row['epoch'])}: {shown}")
    if "model" in summary:
        lines.append(f"  model part: {summary['model']}")
    if "predictions" in summary:
        lines.append(f"  predictions: {summary['predictions']} ({summary['n_predictions']} rows)")
    b = summary.get("bytes", {})
    lines.append(f"  wire: {b.get('sent', 0)} bytes sent, {b.get('received', 0)} received")
    return "\n".join(lines)


_CAPTURE = click.option(
    "--capture-payloads",
    is_flag=True,
    help="Store every message's bytes in the transcript (needed by `vfl audit scan`).",
)
_CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="This party's TOML config ([party], [network], [align], [data], [tower], [train]).",
)


@click.command("train")
@_CONFIG
@click.option(
    "--resume", is_flag=True, help="Continue from this party's newest checkpoint after a crash."
)
@format_option
@insecure_option
@_CAPTURE
def train_command(
    config_path: Path, resume: bool, fmt: str, insecure: bool, capture_payloads: bool
) -> None:
    """Train the split model with the other parties (after `vfl align`).

    \b
    Run at every party at the same time, each with its own config:
      label party    holds the outcomes and the fusion head; serves gRPC on [network] listen
      feature party  runs its own tower; connects out to [network] peer; never listens

    Each feature party's embedding reaches the label party only through the Paillier-
    protected interactive layer ([train] protection = "paillier", the default); "plaintext"
    is ordinary split learning, a baseline that must never see patient data.

    \b
    Outputs in [party] workdir:
      checkpoints/epoch-NNNN.pt   this party's own state after each epoch (atomic)
      model/                      this party's part of the model + manifest.json
      transcripts/train.jsonl     hash-chained record of every message (vfl audit verify)

    If any party dies, restart it (and any party that stopped) with --resume: the run
    continues from the newest checkpoint and ends with the same model as an uninterrupted run.
    """  # noqa: D301
    from vfl.party.stage2 import run_stage2

    overrides = {"network": {"insecure": True}} if insecure else None
    cfg = load_config(config_path, overrides=overrides)
    with _session(cfg, "train", capture_payloads) as (transcript, progress):
        summary = run_stage2(
            cfg, mode="train", resume=resume, on_event=progress, observer=transcript
        )
    summary["transcript"] = str(transcript.path)
    click.echo(json.dumps(summary, sort_keys=True) if fmt == "json" else _text(summary))


@click.command("predict")
@_CONFIG
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="This party's model directory from training (the workdir's model/).",
)
@click.option(
    "--skip-align",
    is_flag=True,
    help="Reuse the alignment already in the workdir instead of running PSI first.",
)
@format_option
@insecure_option
@_CAPTURE
def predict_command(
    config_path: Path,
    model_dir: Path,
    skip_align: bool,
    fmt: str,
    insecure: bool,
    capture_payloads: bool,
) -> None:
    """Predict for a new cohort: align it with PSI, then run every tower and the protected layer.

    Run at every party at the same time, with a config whose [align] and [data] point at the
    new cohort and whose [party] run_id and workdir are new. Predictions are written at the
    label party only (workdir/predictions.parquet: position, its own file row, prediction);
    feature parties learn nothing about them.
    """
    from psi.run import align
    from vfl.party.stage2 import run_stage2

    overrides = {"network": {"insecure": True}} if insecure else None
    cfg = load_config(config_path, overrides=overrides)
    with _session(cfg, "predict", capture_payloads) as (transcript, progress):
        if not skip_align:
            align(cfg.psi, observer=transcript)
        summary = run_stage2(
            cfg, mode="predict", model_dir=model_dir, on_event=progress, observer=transcript
        )
    summary["transcript"] = str(transcript.path)
    click.echo(json.dumps(summary, sort_keys=True) if fmt == "json" else _text(summary))


COMMANDS = [train_command, predict_command]
