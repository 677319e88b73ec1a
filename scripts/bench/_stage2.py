"""Shared helpers of the stage-2 benchmarks (`train.py`, `public.py`).

- Cohort files: every party holds the shared patients plus a few of its own, each in its own
  random row order, under random IDs; the benchmark writes each party's data in that order.
- Real parties: `vfl align` / `vfl train` as separate processes over gRPC on loopback
  (`vfl.party.launch.run_parties`); the label party's JSON summary gives per-epoch history,
  seconds and bytes.
- The in-process baseline: the same towers, a linear interactive layer (plain SGD at
  `interactive_lr`, initialised as W̃0 + E0 exactly as split learning starts) and the same
  `FusionHead`, trained on the same preprocessed inputs with the same batch schedule, seed,
  optimizer and learning rates. With a subset of the towers it gives the single-party
  baselines.

Callers put the repository root first on `sys.path` (this folder holds `psi.py`, which would
shadow the `psi` package).
"""

from __future__ import annotations

import os
import subprocess
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import nn

from vfl.config import load_config
from vfl.data import fit_preprocessor, load_party_data
from vfl.fusion import FusionHead, make_task
from vfl.party import (
    Schedule,
    TrainConfig,
    free_port,
    initial_noise_share,
    initial_weight_share,
    run_parties,
    write_config,
)
from vfl.party.stage2 import parse_stage2, read_alignment
from vfl.towers import TowerSpec, build_tower

Row = dict[str, float]


# ----------------------------------------------------------------------------- cohort files


@dataclass(frozen=True)
class Cohort:
    """Patients of a benchmark and which of them each party holds, in its file order.

    Attributes:
        ids: one random ID per patient (shared ones first).
        n_shared: patients 0..n_shared-1 are held by every party.
        rows: party -> patient indices in that party's file order.
    """

    ids: list[str]
    n_shared: int
    rows: dict[str, np.ndarray]

    @property
    def n_total(self) -> int:
        return len(self.ids)


def make_cohort(parties: Sequence[str], n_shared: int, extra: int, seed: int) -> Cohort:
    """Every party gets the shared patients plus `extra` of its own, shuffled."""
    rng = np.random.default_rng([seed, 77])
    n_total = n_shared + extra * len(parties)
    ids = [f"PT-{v:012x}" for v in rng.choice(2**48, size=n_total, replace=False)]
    rows = {}
    for k, name in enumerate(parties):
        own = np.arange(n_shared + k * extra, n_shared + (k + 1) * extra)
        rows[name] = rng.permutation(np.concatenate([np.arange(n_shared), own]))
    return Cohort(ids, n_shared, rows)


def write_ids(cohort: Cohort, party: str, path: Path) -> Path:
    """The party's ID file (`patient_id` column), rows in its own order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [cohort.ids[i] for i in cohort.rows[party]]
    path.write_text("patient_id\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_matrix(
    cohort: Cohort, party: str, path: Path, values: np.ndarray, names: Sequence[str]
) -> Path:
    """A Parquet table: `patient_id` plus one column per feature, rows in the party's order."""
    rows = cohort.rows[party]
    columns: dict[str, Any] = {"patient_id": pa.array([cohort.ids[i] for i in rows])}
    picked = values[rows]
    for j, name in enumerate(names):
        columns[name] = pa.array(picked[:, j])
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def write_labels(cohort: Cohort, party: str, path: Path, labels: np.ndarray) -> Path:
    """A CSV of `patient_id,outcome` (class index as text), rows in the party's order."""
    rows = cohort.rows[party]
    body = "\n".join(f"{cohort.ids[i]},{int(labels[i])}" for i in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("patient_id,outcome\n" + body + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- party configs


@dataclass(frozen=True)
class PartySetup:
    """One party of a benchmark: name, ID file, `[data.*]` tables and optional `[tower]`."""

    name: str
    ids_file: Path
    data: dict[str, dict[str, Any]]
    tower: dict[str, Any] | None = None


def write_configs(
    root: Path,
    label: PartySetup,
    features: Sequence[PartySetup],
    train: Mapping[str, Any],
    tag: str,
    run_id: str = "bench",
) -> dict[str, Path]:
    """Write one TOML per party (`<name>.<tag>.toml`, label party first); insecure loopback.

    The workdir depends only on the party, so an alignment done once serves every tag.
    """
    port = free_port()
    names = [f.name for f in features]
    configs = {}
    for setup in (label, *features):
        is_label = setup is label
        network: dict[str, Any] = (
            {"listen": f"127.0.0.1:{port}", "feature_parties": names, "insecure": True}
            if is_label
            else {"peer": f"127.0.0.1:{port}", "peer_name": label.name, "insecure": True}
        )
        network["timeout_s"] = 600
        sections: dict[str, dict[str, Any]] = {
            "party": {
                "name": setup.name,
                "role": "label" if is_label else "feature",
                "run_id": run_id,
                "workdir": root / "work" / setup.name,
            },
            "network": network,
            "align": {"ids_file": setup.ids_file, "id_column": "patient_id"},
            "data": {},
            **{f"data.{k}": v for k, v in setup.data.items()},
            "train": dict(train),
        }
        if setup.tower is not None:
            sections["tower"] = {k: v for k, v in setup.tower.items() if k != "options"}
            if setup.tower.get("options"):
                sections["tower.options"] = dict(setup.tower["options"])
        configs[setup.name] = write_config(root / f"{setup.name}.{tag}.toml", sections)
    return configs


# ----------------------------------------------------------------------------- real parties


@dataclass
class PartyRun:
    """Summaries of one `vfl` command at every party, and its wall time."""

    summaries: dict[str, dict[str, Any]]
    wall_s: float


def run_command(configs: Mapping[str, Path], command: str, timeout_s: float) -> PartyRun:
    """Run `vfl <command>` at every party as its own process; raise on any failure."""
    names = list(configs)
    label = configs[names[0]]
    address = tomllib.loads(label.read_text(encoding="utf-8"))["network"]["listen"]
    began = time.perf_counter()
    procs = run_parties(
        label,
        [configs[n] for n in names[1:]],
        label_address=address,
        args=["--insecure"],
        command=command,
        timeout_s=timeout_s,
    )
    wall = time.perf_counter() - began
    for name, proc in zip(names, procs, strict=True):
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-15:]
            raise RuntimeError(
                f"vfl {command} at {name} exited {proc.returncode}:\n" + "\n".join(tail)
            )
    return PartyRun({n: p.summary() for n, p in zip(names, procs, strict=True)}, wall)


def split_figures(run: PartyRun, label: str) -> dict[str, Any]:
    """AUC/accuracy, seconds and bytes per epoch from the label party's summary.

    Every message crosses the label party (feature parties talk only to it), so its bytes
    sent + received are the bytes on the wire.
    """
    summary = run.summaries[label]
    history = summary["history"]
    epochs = max(len(history), 1)
    wire = summary["bytes"]["sent"] + summary["bytes"]["received"]
    return {
        "history": history,
        "s_per_epoch": float(np.mean([h["seconds"] for h in history])),
        "bytes_per_epoch": wire / epochs,
        "bytes_total": wire,
        "wall_s": run.wall_s,
        "party_bytes": {n: s["bytes"] for n, s in run.summaries.items()},
        **_final_metric(history),
    }


def _final_metric(history: Sequence[Mapping[str, float]]) -> dict[str, float]:
    last = history[-1] if history else {}
    return {k: float(v) for k, v in last.items() if k in ("val_auc", "val_accuracy", "val_loss")}


# ----------------------------------------------------------------------------- in-process


@dataclass
class LocalInputs:
    """One party's preprocessed inputs in the shared order, as its `vfl train` sees them."""

    name: str
    inputs: torch.Tensor | None
    labels: torch.Tensor | None
    tower: dict[str, Any] | None
    train: TrainConfig


def load_local(config: Path) -> LocalInputs:
    """Load a party's data exactly as `run_stage2` does after alignment (fitted on every row)."""
    cfg = load_config(config)
    s2 = parse_stage2(cfg)
    alignment = read_alignment(cfg.party.workdir)
    data = load_party_data(s2.data, [int(r) for r in alignment.rows])
    data = fit_preprocessor(s2.data, data, np.arange(len(data))).transform(data)
    values: np.ndarray | None = None
    if data.image is not None:
        values = data.image
    elif data.genomics is not None:
        values = np.nan_to_num(data.genomics.values, nan=0.0)
    elif data.table is not None:
        values = data.table.values
    inputs = None if values is None else torch.as_tensor(np.ascontiguousarray(values)).float()
    labels = None
    if data.labels is not None:
        labels = torch.as_tensor(data.labels.values)
        labels = labels.float() if s2.train.task == "binary" else labels.long()
    return LocalInputs(cfg.party.name, inputs, labels, s2.tower, s2.train)


def _build(party: LocalInputs) -> nn.Module:
    if party.tower is None or party.inputs is None:
        raise ValueError(f"party {party.name} has no tower")
    spec = TowerSpec.from_mapping({**party.tower, "input_shape": list(party.inputs.shape[1:])})
    torch.manual_seed(party.train.seed)
    return build_tower(spec).module


class PooledModel(nn.Module):
    """Feature towers → linear interactive layers; own tower → local projection; fusion head."""

    def __init__(
        self, cfg: TrainConfig, features: Sequence[LocalInputs], own: LocalInputs | None
    ) -> None:
        super().__init__()
        self.names = [f.name for f in features]
        self.towers = nn.ModuleDict({f.name: _build(f) for f in features})
        self.own = _build(own) if own is not None else None
        self.weights = nn.ParameterDict()
        for f in features:
            spec = cfg.layer_spec(int(f.tower["out_dim"]) if f.tower else 0)
            w0 = initial_weight_share(cfg.seed, f.name, spec)
            w0 = w0 + initial_noise_share(f.train.seed, f.name, spec)
            self.weights[f.name] = nn.Parameter(torch.as_tensor(w0, dtype=torch.float32))
        torch.manual_seed(cfg.seed)
        task = make_task(cfg.task, n_classes=cfg.n_classes if cfg.task == "multiclass" else None)
        own_dim = int(own.tower["out_dim"]) if own is not None and own.tower else None
        self.head = FusionHead(
            self.names,
            cfg.interactive_width,
            task,
            combine=cfg.combine,  # type: ignore[arg-type]
            local_dim=own_dim,
            hidden=cfg.hidden,
        )

    def forward(self, xs: Mapping[str, torch.Tensor], own: torch.Tensor | None) -> torch.Tensor:
        zs = {n: self.towers[n](xs[n]) @ self.weights[n] for n in self.names}
        local = self.own(own) if self.own is not None and own is not None else None
        out: torch.Tensor = self.head(zs, local)
        return out


def train_local(
    label: LocalInputs, features: Sequence[LocalInputs], *, own_tower: bool
) -> dict[str, Any]:
    """Train the pooled model (or a single-party one) in this process; per-epoch history.

    Args:
        label: the label party's inputs (labels, and its own modality if `own_tower`).
        features: feature parties whose towers join through a linear interactive layer.
        own_tower: whether the label party's own tower takes part.
    """
    cfg = label.train
    torch.set_num_threads(cfg.torch_threads)
    if label.labels is None:
        raise ValueError("the label party has no labels")
    labels = label.labels
    model = PooledModel(cfg, features, label if own_tower else None)
    params = [p for n, p in model.named_parameters() if not n.startswith("weights.")]
    opt_cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
    optimizer = opt_cls(params, lr=cfg.lr)
    schedule = Schedule(int(labels.shape[0]), cfg.batch_size, cfg.seed, cfg.val_fraction)

    def batch(positions: np.ndarray) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        idx = torch.as_tensor(positions, dtype=torch.long)
        xs = {f.name: f.inputs[idx] for f in features if f.inputs is not None}
        own = label.inputs[idx] if own_tower and label.inputs is not None else None
        return xs, own

    history: list[Row] = []
    for epoch in range(cfg.epochs):
        began = time.perf_counter()
        model.train()
        total, rows = 0.0, 0
        for positions in schedule.train_batches(epoch):
            xs, own = batch(positions)
            optimizer.zero_grad()
            model.weights.zero_grad()
            loss = model.head.task.loss(model(xs, own), labels[torch.as_tensor(positions)])
            torch.autograd.backward(loss)
            optimizer.step()
            with torch.no_grad():
                for w in model.weights.values():
                    if w.grad is not None:
                        w -= cfg.interactive_lr * w.grad
            total, rows = total + float(loss.detach()) * positions.size, rows + positions.size
        row: Row = {"epoch": float(epoch + 1), "train_loss": total / max(rows, 1)}
        row.update(_evaluate(model, schedule, batch, labels))
        row["seconds"] = time.perf_counter() - began
        history.append(row)
    return {
        "history": history,
        "s_per_epoch": float(np.mean([h["seconds"] for h in history])),
        "bytes_per_epoch": 0.0,
        **_final_metric(history),
    }


def _evaluate(model: PooledModel, schedule: Schedule, batch: Any, labels: torch.Tensor) -> Row:
    model.eval()
    batches = schedule.val_batches()
    with torch.no_grad():
        logits = torch.cat([model(*batch(p)) for p in batches])
        targets = labels[torch.as_tensor(np.concatenate(batches))]
        metrics = model.head.task.evaluate(logits, targets)
    return {f"val_{k}": float(v) for k, v in metrics.items()}


# ----------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, date and load average (the machine may be shared)."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), ""
        )
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "mem_gib": round(mem, 1),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def fmt_bytes(n: float) -> str:
    """Human-readable byte count."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return f"{n:.1f} GiB"
