"""The whole job on a generated cohort: align, train, predict held-out patients, audit, report.

Every stage runs each party as its own `vfl` process on loopback (mutual TLS with the
generator's test CA unless insecure), exactly the commands an institution would run; this
module only prepares the inputs, starts the processes, and reads what they leave behind.

Layout of ``OUT/<run-id>/``::

    report.md, summary.json, audit_scan.md, plots/*.png
    logs/<party>.<stage>.out|err     each process's JSON summary and its log
    cohort/                          the sites' files, certs/, every party's two configs,
      runs/<party>/                  training workdirs (alignment, model/, transcripts/)
      runs/<party>-heldout/          prediction workdirs (predictions.parquet at the label)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc

from vfl.config import load_config
from vfl.demo.checks import run_checks, transcript_bytes
from vfl.demo.cohort import DEMO_EFFECTS, LABEL, DemoCohort, TrainSettings, prepare_cohort
from vfl.demo.evaluate import HeldOut, evaluate_heldout
from vfl.demo.parties import StageResult, StageRun, run_stage
from vfl.demo.plots import plot_all
from vfl.demo.report import DemoReport, write_report
from vfl.errors import AuditError, ConfigError
from vfl.party.launch import free_port

__all__ = ["DemoOptions", "run_demo"]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    """What `vfl demo` was asked for."""

    out: Path
    n_shared: int = 1200
    epochs: int = 8
    seed: int = 0
    key_bits: int = 2048
    insecure: bool = False
    run_id: str | None = None


def _credentials(cohort: DemoCohort) -> grpc.ChannelCredentials | None:
    if cohort.insecure:
        return None
    certs = cohort.root / "certs"
    return grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(),
        (certs / f"{LABEL}.key").read_bytes(),
        (certs / f"{LABEL}.pem").read_bytes(),
    )


def _workdirs(configs: Mapping[str, Path]) -> dict[str, Path]:
    return {party: load_config(path).party.workdir for party, path in configs.items()}


def _stage(
    cohort: DemoCohort,
    name: str,
    command: str,
    configs: Mapping[str, Path],
    args: dict[str, list[str]],
) -> StageRun:
    return StageRun(name, command, configs, args, LABEL, cohort.label_address)


def _run_stages(
    cohort: DemoCohort, logs: Path, progress: Progress
) -> tuple[dict[str, StageResult], dict[str, dict[str, Path]]]:
    creds = _credentials(cohort)
    train_dirs, held_dirs = _workdirs(cohort.train), _workdirs(cohort.heldout)
    align_t = {p: d / "transcripts" / "align.jsonl" for p, d in train_dirs.items()}
    capture = ["--capture-payloads"]
    runs = [
        _stage(
            cohort,
            "align",
            "align",
            cohort.train,
            {p: ["--transcript", str(t), *capture] for p, t in align_t.items()},
        ),
        _stage(cohort, "train", "train", cohort.train, {p: capture for p in cohort.train}),
        _stage(
            cohort,
            "predict",
            "predict",
            cohort.heldout,
            {p: ["--model", str(train_dirs[p] / "model"), *capture] for p in cohort.heldout},
        ),
    ]
    results = {}
    for run in runs:
        progress(f"{run.stage}: every party in its own process ...")
        results[run.stage] = run_stage(run, logs, credentials=creds)
        progress(f"{run.stage}: done in {results[run.stage].seconds:.1f} s")
    transcripts = {
        "align": align_t,
        "train": {p: train_dirs[p] / "transcripts" / "train.jsonl" for p in train_dirs},
        "predict": {p: held_dirs[p] / "transcripts" / "predict.jsonl" for p in held_dirs},
    }
    return results, transcripts


def _stage_costs(
    results: Mapping[str, StageResult], transcripts: Mapping[str, Mapping[str, Path]]
) -> dict[str, dict[str, float]]:
    """Wall time and bytes per stage.

    Bytes come from the transcripts for align and predict (they include PSI) and from the
    parties' own summaries for training.
    """
    costs = {}
    for stage, result in results.items():
        if stage == "train":
            sent = sum(s["bytes"]["sent"] for s in result.summaries.values())
        else:
            sent = sum(transcript_bytes(t)["sent"] for t in transcripts[stage].values())
        costs[stage] = {"seconds": result.seconds, "bytes": float(sent)}
    return costs


def _evaluate(cohort: DemoCohort, predict: StageResult) -> HeldOut:
    train_dirs = _workdirs(cohort.train)
    return evaluate_heldout(
        predictions=Path(predict.summaries[LABEL]["predictions"]),
        labels_file=cohort.heldout_labels,
        label_column="response",
        heldout_configs=cohort.heldout,
        model_dirs={p: d / "model" for p, d in train_dirs.items()},
        label=LABEL,
    )


def _per_party(results: Mapping[str, StageResult]) -> dict[str, dict[str, float]]:
    """Each party's own figures, from the JSON summaries its processes printed."""
    rows: dict[str, dict[str, float]] = {}
    for party, s in results["align"].summaries.items():
        rows[party] = {
            "ids": float(s["sizes"]["valid_ids"]),
            "shared": float(s["sizes"]["final"]),
            "align_s": float(s["timings_s"]["total"]),
            "align_rss_mib": float(s.get("peak_rss_mib", 0.0)),
        }
    for stage in ("train", "predict"):
        for party, s in results[stage].summaries.items():
            rows[party][f"{stage}_sent"] = float(s["bytes"]["sent"])
            rows[party][f"{stage}_received"] = float(s["bytes"]["received"])
    return rows


def run_demo(options: DemoOptions, progress: Progress | None = None) -> tuple[Path, DemoReport]:
    """Run the demo end to end; return the report's path and its content.

    Raises:
        ConfigError: bad options or an output folder that already exists.
        AlignmentError, TrainingError: a stage failed (naming the party and its log).
        AuditError: a transcript failed verification or the scan found a leak.
    """
    say = progress or (lambda message: None)
    began = time.perf_counter()
    run_id = options.run_id or time.strftime("demo-%Y%m%d-%H%M%S")
    root = options.out.resolve() / run_id
    if root.exists():
        raise ConfigError(f"{root} already exists; choose another --out or run id")
    settings = TrainSettings(epochs=options.epochs, key_bits=options.key_bits, seed=options.seed)
    say(f"generating the cohort in {root / 'cohort'}")
    cohort = prepare_cohort(
        root / "cohort",
        run_id=run_id,
        n_shared=options.n_shared,
        seed=options.seed,
        port=free_port(),
        insecure=options.insecure,
        settings=settings,
    )
    results, transcripts = _run_stages(cohort, root / "logs", say)
    say("verifying transcripts and scanning every captured payload for IDs")
    audit = run_checks(
        transcripts, label=LABEL, ids_file=cohort.all_ids, report_path=root / "audit_scan.md"
    )
    say("evaluating on the held-out patients")
    heldout = _evaluate(cohort, results["predict"])
    stages = _stage_costs(results, transcripts)
    history = list(results["train"].summaries[LABEL]["history"])
    plots = plot_all(root / "plots", history, heldout, stages)
    shown = {
        **asdict(settings),
        "n_shared": options.n_shared,
        "effects": asdict(DEMO_EFFECTS),
        "transport": "gRPC without TLS" if cohort.insecure else "gRPC over mutual TLS",
    }
    report = DemoReport(
        run_id=run_id,
        settings=shown,
        sizes={"train_shared": cohort.n_shared, "heldout_shared": cohort.n_heldout_shared},
        history=history,
        heldout=heldout,
        stages=stages,
        parties=_per_party(results),
        audit=audit,
        plots=plots,
        total_seconds=time.perf_counter() - began,
    )
    path = write_report(report, root)
    if not audit.ok:
        raise AuditError(f"audit checks failed; see {path} and {audit.scan_report}")
    return path, report
