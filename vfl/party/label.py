"""The label party's coordinator: it serves `TrainService` and runs the fusion head.

One main thread walks the schedule (publish a step, wait for every feature party's
projection, run the head, hand out gradients, wait for the updates); gRPC handler threads
call the `TrainService` methods, doing each party's homomorphic work in parallel and
outside the lock. If a party re-joins mid-run (it restarted), the coordinator rolls every
party back to the newest checkpoint under a new session token: nothing done since that
checkpoint is kept, so a resumed run replays exactly what an uninterrupted one would.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vfl.crypto import PackedMatrix, PaillierEngine, PublicKey
from vfl.errors import (
    PeerRefusedError,
    PeerTimeoutError,
    ProtocolViolationError,
    TrainingError,
)
from vfl.fusion import FusionHead, head_backward, make_task
from vfl.party.checkpoint import CheckpointStore
from vfl.party.keys import check_peer_scheme, load_or_create_key
from vfl.party.schedule import Schedule
from vfl.party.settings import TrainConfig
from vfl.protocol import (
    BackwardFinish,
    BackwardReply,
    ForwardRequest,
    Hello,
    HelloReply,
    LayerSpec,
    PaillierLabelLayer,
    PlainLabelLayer,
    SessionChangedError,
    Step,
)

__all__ = ["LabelCoordinator", "LabelData", "TrainResult"]

log = logging.getLogger(__name__)

Event = Callable[[str, Mapping[str, Any]], None]
LabelLayer = PaillierLabelLayer | PlainLabelLayer


class _Rollback(Exception):
    """A party re-joined: restart from the newest checkpoint."""


@dataclass(frozen=True)
class LabelData:
    """What the label party brings: labels and, optionally, its own tower and inputs."""

    labels: torch.Tensor
    own_tower: nn.Module | None = None
    own_inputs: torch.Tensor | None = None
    own_dim: int | None = None


@dataclass
class _Party:
    name: str
    hello: Hello
    layer: LabelLayer
    engine: PaillierEngine | None
    served: int = 0
    z: np.ndarray | None = None
    backward_done: bool = False
    saved_epoch: int = -1


@dataclass
class TrainResult:
    """What a run produced, for the CLI summary."""

    model_id: str
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    predictions: np.ndarray | None = None


def initial_weight_share(seed: int, party: str, spec: LayerSpec) -> np.ndarray:
    """G's share W̃0: Xavier-uniform scaled by 1/√2 (H's E0 is drawn the same way)."""
    rng = np.random.default_rng([seed, zlib.crc32(party.encode()), 1])
    limit = np.sqrt(6.0 / (spec.in_dim + spec.out_dim)) / np.sqrt(2.0)
    return rng.uniform(-limit, limit, (spec.in_dim, spec.out_dim))


class LabelCoordinator:
    """Runs stage 2 at the label party and answers the feature parties' calls.

    Args:
        run_id: the run's identifier (checkpoints and messages are bound to it).
        cfg: the label party's `[train]` settings (they rule the run).
        parties: feature parties that must join.
        data: labels (train mode) and the optional own tower.
        n_rows: aligned rows.
        alignment_digest: from this party's `alignment.json`; every party must match it.
        workdir: where checkpoints, metrics and the model go.
        mode: "train" or "predict".
        resume: continue from the newest checkpoint instead of starting clean.
        model: predict mode: the saved label-side model (see `save_model`).
        on_event: progress callback (kind, details), e.g. for a progress bar.
        timeout_s: how long to wait for a silent party before failing, naming it.
        name: this party's name (recorded as the owner of its public key).
    """

    def __init__(
        self,
        *,
        run_id: str,
        cfg: TrainConfig,
        parties: Sequence[str],
        data: LabelData,
        n_rows: int,
        alignment_digest: str,
        workdir: Path,
        mode: str = "train",
        resume: bool = False,
        model: Mapping[str, Any] | None = None,
        on_event: Event | None = None,
        timeout_s: float = 600.0,
        name: str = "label",
    ) -> None:
        self.run_id, self.cfg, self.mode = run_id, cfg, mode
        self.party_names = tuple(parties)
        self.data, self.n_rows, self.digest = data, n_rows, alignment_digest
        self.workdir, self.timeout_s = workdir, timeout_s
        self._emit: Event = on_event or (lambda kind, info: None)
        self.schedule = Schedule(n_rows, cfg.batch_size, cfg.seed, cfg.val_fraction)
        self.store = CheckpointStore(workdir / "checkpoints", run_id)
        if mode == "train" and not resume:
            self.store.clear()
        self._resume_epoch = self.store.latest() if mode == "train" else 0
        self._model = dict(model or {})
        self.model_id = str(self._model.get("model_id", "")) or secrets.token_hex(16)
        self._cv = threading.Condition()
        self._session = secrets.token_hex(8)
        self._parties: dict[str, _Party] = {}
        self._started = False
        self._rollback = False
        self._failure: str | None = None
        self._step = Step(kind="done")
        self._step_id = 0
        self._deltas: dict[str, np.ndarray] | None = None
        self.history: list[dict[str, float]] = []
        self._shares: dict[str, dict[str, object]] = {}
        self._build_head()
        if "head" in self._model:
            self._load_state(self._model)
        self._engine: PaillierEngine | None = None
        if cfg.protection == "paillier":
            key = load_or_create_key(
                workdir / "keys" / "paillier.key", cfg.key_bits, cfg.key_scheme
            )
            self._engine = PaillierEngine(key.public_key, key, workers=cfg.workers)
            pk = key.public_key
            self._emit("key", {"owner": name, "fingerprint": pk.fingerprint, "n": pk.n})

    @property
    def public_key(self) -> PublicKey | None:
        """The label party's own Paillier public key (None in plaintext mode)."""
        return self._engine.public_key if self._engine is not None else None

    def close(self) -> None:
        """Stop every Paillier worker pool (idempotent)."""
        with self._cv:
            engines = [p.engine for p in self._parties.values()]
        for engine in [*engines, self._engine]:
            if engine is not None:
                engine.close()

    # ----------------------------------------------------------------- model state

    def _build_head(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        task = make_task(cfg.task, n_classes=cfg.n_classes if cfg.task == "multiclass" else None)
        self.head = FusionHead(
            self.party_names,
            cfg.interactive_width,
            task,
            combine=cfg.combine,  # type: ignore[arg-type]
            local_dim=self.data.own_dim,
            hidden=cfg.hidden,
        )
        params = list(self.head.parameters())
        if self.data.own_tower is not None:
            params += list(self.data.own_tower.parameters())
        opt_cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
        self.optimizer = opt_cls(params, lr=cfg.lr)

    def _state(self) -> dict[str, Any]:
        own = self.data.own_tower
        return {
            "model_id": self.model_id,
            "head": self.head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "own_tower": own.state_dict() if own is not None else None,
            "layers": {name: p.layer.state_dict() for name, p in self._parties.items()},
            "history": list(self.history),
            "torch_rng": torch.get_rng_state(),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.model_id = str(state["model_id"])
        self.head.load_state_dict(state["head"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.data.own_tower is not None and state.get("own_tower") is not None:
            self.data.own_tower.load_state_dict(state["own_tower"])
        self._shares = dict(state.get("layers", {}))
        self.history = list(state.get("history", []))
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])

    # ----------------------------------------------------------------- TrainService

    def hello(self, party: str, msg: Hello) -> HelloReply:
        """Admit a feature party (re-admitting one mid-run rolls everyone back)."""
        self._check_hello(party, msg)
        spec = self.cfg.layer_spec(msg.in_dim)
        with self._cv:
            if self._started and party in self._parties:
                self._begin_rollback(party)
            start = self._resume_epoch
            if start > 0 and start not in msg.checkpoint_epochs:
                raise PeerRefusedError(
                    f"party {party!r} has no checkpoint for epoch {start}; "
                    "restart every party without --resume"
                )
            self._parties[party] = self._admit(party, msg, spec)
            self._cv.notify_all()
            own = self.public_key
            return HelloReply(
                self._session,
                spec,
                start,
                self.cfg.epochs,
                self.model_id,
                own.to_bytes() if own is not None else b"",
            )

    def _check_hello(self, party: str, msg: Hello) -> None:
        problems = []
        if party not in self.party_names:
            problems.append(f"party {party!r} is not part of this run")
        if msg.mode != self.mode:
            problems.append(f"party runs {msg.mode!r} but the label party runs {self.mode!r}")
        if msg.protection != self.cfg.protection:
            problems.append(
                f"protection {msg.protection!r} differs from the label party's "
                f"{self.cfg.protection!r}"
            )
        if msg.n_rows != self.n_rows or msg.alignment_digest != self.digest:
            problems.append("the party's alignment differs from the label party's; re-run align")
        if self.mode == "predict" and msg.model_id != self.model_id:
            problems.append("the party's saved model belongs to another training run")
        if problems:
            raise PeerRefusedError("; ".join(problems))

    def _admit(self, party: str, msg: Hello, spec: LayerSpec) -> _Party:
        saved = self._shares.get(party)
        if self.cfg.protection == "plaintext":
            if msg.initial_share is None:
                raise ProtocolViolationError("plaintext hello lacks the initial share")
            weights = initial_weight_share(self.cfg.seed, party, spec) + msg.initial_share
            layer: LabelLayer = PlainLabelLayer(spec, weights)
            engine = None
        else:
            if self._engine is None:
                raise ProtocolViolationError("the label party has no Paillier key")
            key = PublicKey.from_bytes(msg.public_key)
            if key.n == self._engine.public_key.n:
                raise PeerRefusedError(f"party {party!r} announced the label party's own key")
            check_peer_scheme(key, self.cfg.peer_key_schemes, f"party {party!r}")
            engine = PaillierEngine(key, workers=self.cfg.workers)
            self._emit("key", {"owner": party, "fingerprint": key.fingerprint, "n": key.n})
            share = initial_weight_share(self.cfg.seed, party, spec)
            layer = PaillierLabelLayer(spec, self._engine, engine, share)
        if saved is not None:
            layer.load_state_dict(saved)
        old = self._parties.get(party)
        if old is not None and old.engine is not None:
            old.engine.close()
        return _Party(party, msg, layer, engine, served=self._step_id)

    def public_key_for(self, party: str) -> PublicKey | None:
        """The Paillier public key a joined party announced (for decoding its messages)."""
        with self._cv:
            p = self._parties.get(party)
        if p is None or not p.hello.public_key:
            return None
        return PublicKey.from_bytes(p.hello.public_key)

    def next_step(self, party: str, session: str) -> Step:
        """Block until there is a step this party has not seen."""
        with self._cv:
            p = self._member(party, session)
            self._wait_handler(lambda: self._step_id > p.served, party, session)
            p.served = self._step_id
            return self._step

    def weights(self, party: str, session: str, batch: int) -> PackedMatrix | None:
        """[[W̃]] under the label party's key for the current batch (None in plaintext)."""
        with self._cv:
            p = self._check_batch(party, session, batch, "weights")
        layer = p.layer
        return layer.weights() if isinstance(layer, PaillierLabelLayer) else None

    def forward(self, party: str, session: str, msg: ForwardRequest) -> None:
        """Decrypt the party's projection z (outside the lock) and hand it to the head."""
        with self._cv:
            p = self._check_batch(party, session, msg.batch, "forward")
        z = p.layer.on_forward(msg)
        with self._cv:
            self._member(party, session).z = z
            self._cv.notify_all()

    def _check_batch(self, party: str, session: str, batch: int, what: str) -> _Party:
        p = self._member(party, session)
        if self._step.kind not in ("train", "eval", "predict") or batch != self._step_id:
            raise ProtocolViolationError(f"{what} for batch {batch} is out of place")
        return p

    def backward(self, party: str, session: str, batch: int) -> BackwardReply:
        """Block until δ is known for `batch`, then build the party's backward messages."""
        with self._cv:
            p = self._member(party, session)
            if batch != self._step_id or self._step.kind != "train":
                raise ProtocolViolationError(f"backward for batch {batch} is out of place")
            self._wait_handler(lambda: self._deltas is not None, party, session)
            delta = (self._deltas or {})[party]
        return p.layer.backward(delta)

    def backward_finish(self, party: str, session: str, msg: BackwardFinish | None) -> None:
        """Apply the party's weight-share update."""
        with self._cv:
            p = self._member(party, session)
        p.layer.on_backward_finish(msg)
        with self._cv:
            self._member(party, session).backward_done = True
            self._cv.notify_all()

    def epoch_saved(self, party: str, session: str, epoch: int) -> None:
        """Record that the party's checkpoint for `epoch` is on disk."""
        with self._cv:
            self._member(party, session).saved_epoch = epoch
            self._cv.notify_all()

    def abort(self, party: str, session: str, kind: str) -> None:
        """A feature party stopped on an error of its own: end the run, naming it."""
        with self._cv:
            self._member(party, session)
            shown = kind if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", kind) else "an error"
            log.error("feature party %s stopped with %s", party, shown)
            self._failure = (
                f"feature party {party!r} stopped with {shown}; its own log says why, "
                "then restart every party (with --resume to continue from the checkpoints)"
            )
            self._cv.notify_all()

    def _member(self, party: str, session: str) -> _Party:
        if session != self._session:
            raise SessionChangedError("the label party restarted or rolled back; re-join")
        p = self._parties.get(party)
        if p is None:
            raise PeerRefusedError(f"party {party!r} has not joined this session")
        return p

    def _wait_handler(self, ready: Callable[[], bool], party: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not ready():
            if session != self._session:
                raise SessionChangedError("the label party rolled back; re-join")
            if time.monotonic() > deadline:
                raise PeerTimeoutError(f"waited {self.timeout_s:.0f} s for the other parties")
            self._cv.wait(timeout=1.0)

    # ----------------------------------------------------------------- main loop

    def run(self) -> TrainResult:
        """Drive the run to the end; returns the history (and predictions in predict mode)."""
        while True:
            try:
                return self._run_once()
            except _Rollback:
                log.warning("a party re-joined; rolling back to epoch %d", self._resume_epoch)
                self._emit("rollback", {"epoch": self._resume_epoch})

    def _begin_rollback(self, party: str) -> None:
        log.warning("party %s re-joined mid-run", party)
        self._session = secrets.token_hex(8)
        self._rollback = True
        self._resume_epoch = self.store.latest()
        saved = self.store.load(self._resume_epoch) if self._resume_epoch else self._model
        self._shares = dict(saved.get("layers", {}))
        self._parties.clear()
        self._cv.notify_all()

    def _run_once(self) -> TrainResult:
        with self._cv:
            rolled_back, self._rollback = self._rollback, False
            start = self._resume_epoch
        if rolled_back:
            self.history = []
            self._build_head()  # re-seeded: identical to a fresh start at epoch 0
            if "head" in self._model:
                self._load_state(self._model)
        if start > 0:
            self._load_state(self.store.load(start))
        self._wait_main(
            lambda: set(self._parties) == set(self.party_names), "join", self.party_names
        )
        with self._cv:
            self._started = True
        if self.mode == "predict":
            return self._predict()
        return self._train(start)

    def _train(self, start: int) -> TrainResult:
        best, stale, stopped = float("inf"), 0, False
        for epoch in range(start, self.cfg.epochs):
            began = time.perf_counter()
            train_loss = self._train_epoch(epoch)
            metrics = {"epoch": float(epoch + 1), "train_loss": train_loss}
            metrics.update(self._evaluate())
            metrics["seconds"] = time.perf_counter() - began
            self.history.append(metrics)
            self._end_epoch(epoch + 1)
            self._emit("epoch", metrics)
            val = metrics.get("val_loss", train_loss)
            best, stale = (val, 0) if val < best else (best, stale + 1)
            if self.cfg.patience and stale >= self.cfg.patience:
                stopped = True
                break
        self._finish()
        return TrainResult(self.model_id, len(self.history), list(self.history), stopped)

    def _train_epoch(self, epoch: int) -> float:
        batches = self.schedule.train_batches(epoch)
        total, rows = 0.0, 0
        self.head.train()
        for index, positions in enumerate(batches):
            loss = self._train_batch(epoch, positions)
            total, rows = total + loss * positions.size, rows + positions.size
            self._emit("batch", {"epoch": epoch + 1, "batch": index + 1, "of": len(batches)})
        return total / max(rows, 1)

    def _train_batch(self, epoch: int, positions: np.ndarray) -> float:
        zs = self._collect_projections("train", epoch, positions)
        own = self._own(positions, train=True)
        self.optimizer.zero_grad()
        step = head_backward(self.head, zs, self._labels(positions), own)
        self.optimizer.step()
        with self._cv:
            self._deltas = {n: g.detach().double().numpy() for n, g in step.grads.items()}
            self._cv.notify_all()
        self._wait_main(lambda: all(p.backward_done for p in self._parties.values()), "backward")
        return float(step.loss)

    def _collect_projections(
        self, kind: str, epoch: int, positions: np.ndarray
    ) -> dict[str, np.ndarray]:
        self._publish(Step(kind=kind, epoch=epoch, positions=positions))  # type: ignore[arg-type]
        self._wait_main(lambda: all(p.z is not None for p in self._parties.values()), "forward")
        with self._cv:
            return {name: p.z for name, p in self._parties.items() if p.z is not None}

    def _labels(self, positions: np.ndarray) -> torch.Tensor:
        return self.data.labels[torch.as_tensor(positions, dtype=torch.long)]

    def _own(self, positions: np.ndarray, *, train: bool) -> torch.Tensor | None:
        tower, inputs = self.data.own_tower, self.data.own_inputs
        if tower is None or inputs is None:
            return None
        tower.train(train)
        out: torch.Tensor = tower(inputs[torch.as_tensor(positions, dtype=torch.long)])
        return out

    def _logits(self, kind: str, epoch: int, batches: list[np.ndarray]) -> torch.Tensor:
        self.head.eval()
        outputs = []
        for positions in batches:
            zs = self._collect_projections(kind, epoch, positions)
            with torch.no_grad():
                own = self._own(positions, train=False)
                dtype = self.head.bias.dtype
                tensors = {n: torch.as_tensor(z, dtype=dtype) for n, z in zs.items()}
                outputs.append(self.head(tensors, own))
        return torch.cat(outputs) if outputs else torch.zeros((0, self.head.task.n_outputs))

    def _evaluate(self) -> dict[str, float]:
        batches = self.schedule.val_batches()
        if not batches:
            return {}
        logits = self._logits("eval", 0, batches)
        targets = self._labels(np.concatenate(batches))
        with torch.no_grad():
            metrics = {"val_loss": float(self.head.task.loss(logits, targets))}
        metrics.update({f"val_{k}": v for k, v in self.head.task.evaluate(logits, targets).items()})
        return metrics

    def _predict(self) -> TrainResult:
        logits = self._logits("predict", 0, self.schedule.all_batches())
        with torch.no_grad():
            predictions = self.head.task.predict(logits).numpy()
        self._publish(Step(kind="done"))
        self._wait_main(
            lambda: all(p.served >= self._step_id for p in self._parties.values()), "done"
        )
        return TrainResult(self.model_id, 0, [], False, predictions)

    def _end_epoch(self, epoch: int) -> None:
        self._publish(Step(kind="epoch_end", epoch=epoch))
        self._wait_main(lambda: all(p.saved_epoch == epoch for p in self._parties.values()), "save")
        with self._cv:  # under the lock: a re-joining party reads a consistent resume epoch
            self.store.save(epoch, self._state())

    def _finish(self) -> None:
        self._publish(Step(kind="done", epoch=len(self.history)))
        self._wait_main(
            lambda: all(p.served >= self._step_id for p in self._parties.values()), "done"
        )
        self.close()

    def model_state(self) -> dict[str, Any]:
        """The label party's part of the trained model."""
        state = self._state()
        state.pop("optimizer")
        state.pop("torch_rng")
        return state

    def _publish(self, step: Step) -> None:
        with self._cv:
            self._check_rollback()
            self._step_id += 1
            self._step = Step(step.kind, step.epoch, self._step_id, step.positions)
            self._deltas = None
            for p in self._parties.values():
                p.z, p.backward_done = None, False
            self._cv.notify_all()

    def _wait_main(
        self, ready: Callable[[], bool], what: str, names: Sequence[str] | None = None
    ) -> None:
        deadline = time.monotonic() + self.timeout_s
        with self._cv:
            while not ready():
                self._check_rollback()
                if time.monotonic() > deadline:
                    missing = sorted(set(names or self.party_names) - set(self._parties))
                    who = ", ".join(missing) if missing else "a feature party"
                    raise PeerTimeoutError(
                        f"no answer from {who} within {self.timeout_s:.0f} s ({what} step)"
                    )
                self._cv.wait(timeout=1.0)
            self._check_rollback()

    def _check_rollback(self) -> None:
        if self._failure is not None:
            raise TrainingError(self._failure)
        if self._rollback:
            raise _Rollback()
