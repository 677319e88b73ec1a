"""Stage 2 at one party: read its config, data and alignment, connect, train or predict.

This is what `vfl train` and `vfl predict` call. The label party serves gRPC (and waits for
every feature party); feature parties only connect out. Each party reads only its own files
and the outputs stage 1 left in its workdir.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from psi import net
from psi.config import NetworkConfig
from psi.observer import NullObserver, WireObserver
from psi.outputs import sweep_temporaries
from vfl.config import Config
from vfl.data import (
    DataConfig,
    PartyData,
    Preprocessor,
    fit_preprocessor,
    load_party_data,
    parse_data_config,
    read_aligned_rows,
)
from vfl.errors import ConfigError, InputDataError
from vfl.party.feature import FeatureRunner
from vfl.party.label import LabelCoordinator, LabelData
from vfl.party.model import load_model_part, save_model_part
from vfl.party.observers import ByteCounter, Tee
from vfl.party.settings import TrainConfig, parse_train_config
from vfl.towers import BuiltTower, TowerSpec, build_tower

__all__ = [
    "Alignment",
    "Stage2Config",
    "load_inputs",
    "parse_stage2",
    "read_alignment",
    "run_stage2",
]

log = logging.getLogger(__name__)

Event = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True)
class Alignment:
    """What stage 1 left: the party's file row per shared position and the order digest."""

    rows: np.ndarray
    digest: str
    n_rows: int


@dataclass(frozen=True)
class Stage2Config:
    """The stage-2 sections of a party's config: `[train]`, `[tower]`, `[data]`."""

    train: TrainConfig
    tower: dict[str, Any] | None
    data: DataConfig


def parse_stage2(config: Config) -> Stage2Config:
    """Parse `[train]`, `[tower]` and `[data]`, reporting every problem together."""
    problems: list[str] = []
    train = parse_train_config(config.extra.get("train"), problems)
    tower = config.extra.get("tower")
    if tower is not None and not isinstance(tower, Mapping):
        problems.append("[tower] must be a table")
    if tower is None and config.party.role == "feature":
        problems.append("[tower] is required at a feature party (name, out_dim, options)")
    base = config.source.parent if config.source else Path.cwd()
    data, data_problems = parse_data_config(
        config.extra.get("data") or {},
        base_dir=base,
        ids_file=config.align.ids_file,
        id_column=config.align.id_column,
        case_fold=config.align.case_fold,
    )
    problems.extend(data_problems)
    if problems or data is None:
        raise ConfigError(problems, str(config.source) if config.source else None)
    return Stage2Config(train, dict(tower) if tower else None, data)


def read_alignment(workdir: Path) -> Alignment:
    """Read `alignment.json` and `aligned.parquet` from a party's workdir.

    Raises:
        InputDataError: stage 1 has not run (or did not finish) in this workdir.
    """
    summary_path = workdir / "alignment.json"
    if not summary_path.is_file():
        raise InputDataError(f"no alignment in {workdir}: run `vfl align` with this config first")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if not summary.get("digest"):
        raise InputDataError(
            f"{summary_path}: this party did not learn the shared order "
            "(visibility must be 'both' for training)"
        )
    rows = read_aligned_rows(workdir / "aligned.parquet")
    return Alignment(rows, str(summary["digest"]), int(rows.shape[0]))


def _tls(network: NetworkConfig) -> net.TlsFiles | None:
    if network.insecure or network.ca_cert is None or network.cert is None or network.key is None:
        return None
    return net.TlsFiles(network.ca_cert, network.cert, network.key)


def _modality(data: PartyData) -> np.ndarray | None:
    if data.image is not None:
        return data.image
    if data.genomics is not None:
        return np.nan_to_num(data.genomics.values, nan=0.0)
    if data.table is not None:
        return data.table.values
    return None


def load_inputs(
    s2: Stage2Config, rows: np.ndarray, workdir: Path, prep_path: Path | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Load, validate and preprocess this party's data in the shared order.

    Fits the site's preprocessing on every aligned row (no labels are involved) and saves it
    to `workdir/preprocessor.json`, or applies the one at `prep_path` (prediction).

    Returns:
        The tower's input tensor (None without a modality) and the labels (label party).
    """
    data = load_party_data(s2.data, [int(r) for r in rows])
    if prep_path is not None:
        prep = Preprocessor.load(prep_path)
    else:
        # Statistics from every aligned row of this site: no labels are involved.
        prep = fit_preprocessor(s2.data, data, np.arange(len(data)))
        workdir.mkdir(parents=True, exist_ok=True)
        prep.save(workdir / "preprocessor.json")
    data = prep.transform(data)
    values = _modality(data)
    inputs = None
    if values is not None:
        inputs = torch.as_tensor(np.ascontiguousarray(values), dtype=torch.float32)
    labels = None
    if data.labels is not None:
        dtype = torch.float32 if data.labels.task == "regression" else torch.long
        labels = torch.as_tensor(data.labels.values, dtype=dtype)
        if s2.train.task == "binary":
            labels = labels.float()
    return inputs, labels


def _tower(s2: Stage2Config, inputs: torch.Tensor | None, seed: int) -> BuiltTower | None:
    if s2.tower is None or inputs is None:
        return None
    spec = TowerSpec.from_mapping({**s2.tower, "input_shape": list(inputs.shape[1:])})
    torch.manual_seed(seed)
    return build_tower(spec)


def run_stage2(
    config: Config,
    *,
    mode: str,
    resume: bool = False,
    model_dir: Path | None = None,
    on_event: Event | None = None,
    observer: WireObserver | None = None,
) -> dict[str, Any]:
    """Train (mode "train") or predict (mode "predict") at this party; returns a summary.

    Raises:
        ConfigError, InputDataError, PeerError, TrainingError: with a clear message.
    """
    s2 = parse_stage2(config)
    workdir = config.party.workdir
    for directory in (workdir, workdir / "checkpoints", workdir / "model"):
        sweep_temporaries(directory)  # what a process killed mid-write left; never read
    alignment = read_alignment(workdir)
    manifest: dict[str, Any] = {}
    model_state: dict[str, Any] = {}
    if mode == "predict":
        if model_dir is None:
            raise ConfigError("predict needs --model (the model directory of a trained run)")
        manifest, model_state = load_model_part(model_dir)
        if manifest.get("party") != config.party.name:
            raise ConfigError(f"{model_dir} holds party {manifest.get('party')!r}'s model part")
    prep = None
    if model_dir is not None and (model_dir / "preprocessor.json").is_file():
        prep = model_dir / "preprocessor.json"
    inputs, labels = load_inputs(s2, alignment.rows, workdir, prep)
    torch.set_num_threads(s2.train.torch_threads)
    built = _tower(s2, inputs, s2.train.seed)
    tower = built.module if built is not None else None
    tower_spec = built.spec.to_dict() if built is not None else None
    counter = ByteCounter()
    wire = Tee(counter, observer or NullObserver())
    if config.party.role == "label":
        result = _run_label(
            config, s2, alignment, inputs, labels, tower, mode, resume, model_state, on_event, wire
        )
    else:
        if built is None or inputs is None:
            raise InputDataError("a feature party needs a [data] modality for its tower")
        result = _run_feature(
            config, s2, alignment, inputs, built, mode, manifest, model_state, on_event, wire
        )
    result["bytes"] = {"sent": counter.bytes["send"], "received": counter.bytes["recv"]}
    if mode == "train":
        _save_part(config, s2, workdir, result, tower_spec)
    else:
        result.pop("_state", None)
    return result


def _run_label(
    config: Config,
    s2: Stage2Config,
    alignment: Alignment,
    inputs: torch.Tensor | None,
    labels: torch.Tensor | None,
    tower: nn.Module | None,
    mode: str,
    resume: bool,
    model_state: dict[str, Any],
    on_event: Event | None,
    wire: WireObserver,
) -> dict[str, Any]:
    from vfl.transport import add_train_service

    if mode == "train" and labels is None:
        raise InputDataError("the label party needs its outcomes: add [data.labels] to its config")
    parties = config.network.feature_parties
    data = LabelData(
        labels=labels if labels is not None else torch.zeros(alignment.n_rows),
        own_tower=tower,
        own_inputs=inputs if tower is not None else None,
        own_dim=int(s2.tower["out_dim"]) if tower is not None and s2.tower else None,
    )
    coordinator = LabelCoordinator(
        run_id=config.party.run_id,
        cfg=s2.train,
        parties=parties,
        data=data,
        n_rows=alignment.n_rows,
        alignment_digest=alignment.digest,
        workdir=config.party.workdir,
        mode=mode,
        resume=resume,
        model=model_state or None,
        on_event=on_event,
        timeout_s=max(config.network.wait_s, 60.0),
        name=config.party.name,
    )
    listen = config.network.listen or "127.0.0.1:0"
    server, _ = net.make_server(listen, _tls(config.network), max_workers=4 + 4 * len(parties))
    add_train_service(
        server,
        coordinator,
        run_id=config.party.run_id,
        me=config.party.name,
        parties=parties,
        public_key_for=coordinator.public_key_for,
        label_key=coordinator.public_key,
        observer=wire,
    )
    server.start()
    try:
        result = coordinator.run()
    finally:
        server.stop(grace=2.0)
        coordinator.close()
    summary: dict[str, Any] = {
        "party": config.party.name,
        "role": "label",
        "mode": mode,
        "model_id": result.model_id,
        "protection": s2.train.protection,
        "epochs": result.epochs_run,
        "stopped_early": result.stopped_early,
        "history": result.history,
        "_state": coordinator.model_state(),
    }
    if mode == "predict" and result.predictions is not None:
        summary["predictions"] = str(_write_predictions(config, alignment, result.predictions))
        summary["n_predictions"] = int(result.predictions.shape[0])
    return summary


def _write_predictions(config: Config, alignment: Alignment, predictions: np.ndarray) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vfl.party.checkpoint import atomic_write_bytes

    preds = np.asarray(predictions)
    columns: dict[str, Any] = {
        "position": np.arange(alignment.n_rows, dtype=np.int64),
        "row": alignment.rows,
    }
    if preds.ndim == 1:
        columns["prediction"] = preds
    else:
        for k in range(preds.shape[1]):
            columns[f"prediction_{k}"] = preds[:, k]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    path = config.party.workdir / "predictions.parquet"
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
    return path


def _run_feature(
    config: Config,
    s2: Stage2Config,
    alignment: Alignment,
    inputs: torch.Tensor,
    built: BuiltTower,
    mode: str,
    manifest: Mapping[str, Any],
    model_state: dict[str, Any],
    on_event: Event | None,
    wire: WireObserver,
) -> dict[str, Any]:
    from vfl.transport import GrpcTrainClient

    if config.network.peer is None:
        raise ConfigError("[network] peer (the label party's address) is required")
    client = GrpcTrainClient.connect(
        config.network.peer,
        _tls(config.network),
        connect_timeout_s=config.network.wait_s,
        run_id=config.party.run_id,
        me=config.party.name,
        peer_name=config.network.peer_name,
        observer=wire,
    )
    runner = FeatureRunner(
        party=config.party.name,
        service=client,
        cfg=s2.train,
        tower=built.module,
        in_dim=built.out_dim,
        inputs=inputs,
        n_rows=alignment.n_rows,
        alignment_digest=alignment.digest,
        workdir=config.party.workdir,
        run_id=config.party.run_id,
        mode=mode,
        model_id=str(manifest.get("model_id", "")),
        model_state=model_state,
        on_event=on_event,
        label_name=config.network.peer_name,
    )
    try:
        result = runner.run()
    finally:
        client.close()
    return {
        "party": config.party.name,
        "role": "feature",
        "mode": mode,
        "model_id": result.model_id,
        "protection": s2.train.protection,
        "epochs": result.epochs,
        "batches": result.steps,
        "_state": runner.model_state(),
    }


def _save_part(
    config: Config,
    s2: Stage2Config,
    workdir: Path,
    result: dict[str, Any],
    tower_spec: dict[str, Any] | None,
) -> None:
    state = result.pop("_state")
    directory = workdir / "model"
    manifest = {
        "run_id": config.party.run_id,
        "model_id": result["model_id"],
        "party": config.party.name,
        "role": config.party.role,
        "protection": s2.train.protection,
        "tower": tower_spec,
        "parties": list(config.network.feature_parties),
        "train": {k: v for k, v in vars(s2.train).items() if k != "workers"},
    }
    save_model_part(directory, manifest=manifest, state=state)
    prep = workdir / "preprocessor.json"
    if prep.is_file():
        from vfl.party.checkpoint import atomic_write_bytes

        atomic_write_bytes(directory / "preprocessor.json", prep.read_bytes())
    result["model"] = str(directory)
