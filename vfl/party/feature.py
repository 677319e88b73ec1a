"""The feature party's runner: its tower, its keys, its share, and outbound calls only.

The runner asks the label party what to do next and does it: run the tower on the named
positions, protect the embedding, finish the exchange, back-propagate ∂L/∂α into the tower,
and save a checkpoint when an epoch ends. If the label party restarts or rolls back, the
runner re-joins and reloads the checkpoint it names.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vfl.crypto import PaillierEngine, PrivateKey, PublicKey
from vfl.errors import CheckpointError, PeerError, TrainingError, VflError
from vfl.party.checkpoint import CheckpointStore
from vfl.party.keys import check_peer_scheme, load_or_create_key
from vfl.party.settings import TrainConfig
from vfl.protocol import (
    Hello,
    HelloReply,
    LayerSpec,
    PaillierFeatureLayer,
    PlainFeatureLayer,
    SessionChangedError,
    Step,
    TrainService,
)

__all__ = ["FeatureRunner", "initial_noise_share"]

log = logging.getLogger(__name__)

Event = Callable[[str, Mapping[str, Any]], None]
FeatureLayer = PaillierFeatureLayer | PlainFeatureLayer

_MAX_REJOINS = 20


def initial_noise_share(seed: int, party: str, spec: LayerSpec) -> np.ndarray:
    """H's share E0, drawn from this party's own seed (the label party never sees it)."""
    rng = np.random.default_rng([seed, zlib.crc32(party.encode()), 2])
    limit = np.sqrt(6.0 / (spec.in_dim + spec.out_dim)) / np.sqrt(2.0)
    return rng.uniform(-limit, limit, (spec.in_dim, spec.out_dim))


@dataclass
class FeatureResult:
    """What the run left at this party."""

    model_id: str
    epochs: int
    steps: int


class FeatureRunner:
    """Runs stage 2 at one feature party.

    Args:
        party: this party's identity.
        service: the label party, through a transport.
        cfg: this party's `[train]` settings (its seed, optimizer and learning rate).
        tower: the modality tower (a plain `nn.Module`).
        inputs: the party's inputs in the shared order (row i = aligned position i).
        n_rows: aligned rows.
        alignment_digest: from this party's `alignment.json`.
        workdir: where the key, checkpoints and the model part go.
        mode: "train" or "predict".
        model_id: predict mode: the model id from this party's manifest.
        on_event: progress callback.
        in_dim: the tower's embedding width (probed with one eval-mode batch if absent).
        label_name: the label party's name (recorded as the owner of its public key).
    """

    def __init__(
        self,
        *,
        party: str,
        service: TrainService,
        cfg: TrainConfig,
        tower: nn.Module,
        inputs: torch.Tensor,
        n_rows: int,
        alignment_digest: str,
        workdir: Path,
        run_id: str,
        mode: str = "train",
        model_id: str = "",
        model_state: Mapping[str, Any] | None = None,
        on_event: Event | None = None,
        in_dim: int | None = None,
        label_name: str = "label",
    ) -> None:
        self.party, self.service, self.cfg = party, service, cfg
        self.label_name = label_name
        self.tower, self.inputs = tower, inputs
        self.n_rows, self.digest, self.workdir = n_rows, alignment_digest, workdir
        self.mode, self.model_id = mode, model_id
        self._model_state = dict(model_state or {})
        self._emit: Event = on_event or (lambda kind, info: None)
        self.store = CheckpointStore(workdir / "checkpoints", run_id)
        self.in_dim = in_dim or self._probe_dim()
        self._fresh_tower = {k: v.clone() for k, v in tower.state_dict().items()}
        opt_cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
        self.optimizer = opt_cls(tower.parameters(), lr=cfg.lr)
        self._fresh_optimizer = self.optimizer.state_dict()
        self._key: PrivateKey | None = None
        self._engine: PaillierEngine | None = None
        self._label_engine: PaillierEngine | None = None
        self.layer: FeatureLayer | None = None
        self.session = ""
        self.steps = 0

    def _probe_dim(self) -> int:
        was_training = self.tower.training
        self.tower.eval()
        with torch.no_grad():
            out = self.tower(self.inputs[:2])
        self.tower.train(was_training)
        return int(out.shape[1])

    def run(self) -> FeatureResult:
        """Join, follow the label party's steps until done; re-join after a rollback."""
        try:
            for _ in range(_MAX_REJOINS):
                reply = self._join()
                try:
                    epochs = self._loop()
                except SessionChangedError:
                    log.warning("the label party rolled back; re-joining")
                    self._emit("rollback", {})
                    continue
                except VflError as exc:
                    self._tell_label_party(exc)
                    raise
                return FeatureResult(reply.model_id, epochs, self.steps)
            raise SessionChangedError("the label party rolled back too many times")
        finally:
            for engine in (self._engine, self._label_engine):
                if engine is not None:
                    engine.close()

    def _tell_label_party(self, exc: VflError) -> None:
        """Report a local failure (its kind only) so the label party stops at once.

        Failures of the connection itself are not reported: the label party sees those.
        """
        if isinstance(exc, PeerError):
            return
        try:
            self.service.abort(self.party, self.session, type(exc).__name__)
        except VflError as report_failed:
            log.warning("could not tell the label party: %s", report_failed)

    def _join(self) -> HelloReply:
        spec_probe = self.cfg.layer_spec(self.in_dim)
        noise0 = initial_noise_share(self.cfg.seed, self.party, spec_probe)
        public = b""
        if self.cfg.protection == "paillier":
            self._key = self._key or load_or_create_key(
                self.workdir / "keys" / "paillier.key", self.cfg.key_bits, self.cfg.key_scheme
            )
            public = self._key.public_key.to_bytes()
            pk = self._key.public_key
            self._emit("key", {"owner": self.party, "fingerprint": pk.fingerprint, "n": pk.n})
        hello = Hello(
            party=self.party,
            mode=self.mode,  # type: ignore[arg-type]
            protection=self.cfg.protection,  # type: ignore[arg-type]
            in_dim=self.in_dim,
            n_rows=self.n_rows,
            alignment_digest=self.digest,
            public_key=public,
            checkpoint_epochs=self.store.epochs(),
            initial_share=noise0 if self.cfg.protection == "plaintext" else None,
            model_id=self.model_id,
        )
        reply = self.service.hello(self.party, hello)
        self.session = reply.session
        self._build_layer(reply, noise0)
        self._restore(reply.start_epoch)
        return reply

    def _build_layer(self, reply: HelloReply, noise0: np.ndarray) -> None:
        spec = reply.spec
        if self.cfg.protection == "plaintext":
            self.layer = PlainFeatureLayer(spec, noise0)
            return
        if self._engine is None and self._key is not None:
            self._engine = PaillierEngine(self._key.public_key, self._key, workers=self.cfg.workers)
        if self._engine is None:
            raise CheckpointError("no Paillier key available")
        label_key = PublicKey.from_bytes(reply.public_key)
        check_peer_scheme(
            label_key, self.cfg.peer_key_schemes, f"the label party {self.label_name!r}"
        )
        if self._label_engine is None or self._label_engine.public_key != label_key:
            if self._label_engine is not None:
                self._label_engine.close()
            self._label_engine = PaillierEngine(label_key, workers=self.cfg.workers)
            self._emit(
                "key",
                {"owner": self.label_name, "fingerprint": label_key.fingerprint, "n": label_key.n},
            )
        self.layer = PaillierFeatureLayer(
            spec, self._engine, self._label_engine, noise0, noise_scale=self.cfg.noise_scale
        )

    def _restore(self, epoch: int) -> None:
        """Load the checkpoint after `epoch` epochs, or reset to the fresh state."""
        layer = self._layer()
        if self.mode == "predict":
            self.tower.load_state_dict(self._model_state["tower"])
            layer.load_state_dict(self._model_state["layer"])
            return
        if epoch == 0:
            self.tower.load_state_dict(self._fresh_tower)
            self.optimizer.load_state_dict(self._fresh_optimizer)
            torch.manual_seed(self.cfg.seed)
            return
        state = self.store.load(epoch)
        self.tower.load_state_dict(state["tower"])
        self.optimizer.load_state_dict(state["optimizer"])
        layer.load_state_dict(state["layer"])
        torch.set_rng_state(state["torch_rng"])

    def state(self) -> dict[str, Any]:
        """This party's own state (what a checkpoint holds)."""
        return {
            "tower": self.tower.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "layer": self._layer().state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def _loop(self) -> int:
        while True:
            step = self.service.next_step(self.party, self.session)
            if step.kind == "done":
                return step.epoch
            if step.kind == "epoch_end":
                self.store.save(step.epoch, self.state())
                self.service.epoch_saved(self.party, self.session, step.epoch)
                self._emit("epoch", {"epoch": step.epoch})
                continue
            self._batch(step)

    def _layer(self) -> FeatureLayer:
        if self.layer is None:
            raise TrainingError("the feature party has not joined a session")
        return self.layer

    def model_state(self) -> dict[str, Any]:
        """This party's part of the trained model: its tower and its weight share."""
        return {"tower": self.tower.state_dict(), "layer": self._layer().state_dict()}

    def _batch(self, step: Step) -> None:
        layer = self._layer()
        train = step.kind == "train"
        self.tower.train(train)
        rows = self.inputs[torch.as_tensor(step.positions, dtype=torch.long)]
        with torch.set_grad_enabled(train):
            alpha = self.tower(rows)
        alpha_np = alpha.detach().double().numpy()
        weights = None
        if self.cfg.protection == "paillier":
            weights = self.service.weights(self.party, self.session, step.batch)
        request = layer.forward(step.batch, alpha_np, weights, train=train)
        self.service.forward(self.party, self.session, request)
        if not train:
            layer.end_batch()
        else:
            back = self.service.backward(self.party, self.session, step.batch)
            finish, grad = layer.finish_backward(back)
            self.service.backward_finish(self.party, self.session, finish)
            self.optimizer.zero_grad()
            alpha.backward(torch.as_tensor(grad, dtype=alpha.dtype))
            self.optimizer.step()
        self.steps += 1
        self._emit("batch", {"epoch": step.epoch + 1, "kind": step.kind})
