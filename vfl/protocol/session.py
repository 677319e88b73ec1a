"""Session-level messages of stage 2 and the service the label party offers.

A feature party joins with `Hello`, then repeatedly asks `next_step` what to do: a training,
evaluation or prediction batch (positions only, never IDs), an epoch end (save a
checkpoint), or done. Every call after hello carries the session token; when the label party
restarts or rolls back to a checkpoint the token changes, and a caller holding the old one
gets `SessionChangedError`, re-joins and reloads the checkpoint the label party names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from vfl.crypto import PackedMatrix
from vfl.errors import PeerRefusedError
from vfl.protocol.messages import BackwardFinish, BackwardReply, ForwardRequest
from vfl.protocol.spec import LayerSpec

__all__ = [
    "Hello",
    "HelloReply",
    "Mode",
    "Protection",
    "SessionChangedError",
    "Step",
    "StepKind",
    "TrainService",
]

Mode = Literal["train", "predict"]
Protection = Literal["paillier", "plaintext"]
StepKind = Literal["train", "eval", "predict", "epoch_end", "done"]


class SessionChangedError(PeerRefusedError):
    """The label party restarted or rolled back; re-join with `hello`."""


@dataclass(frozen=True)
class Hello:
    """A feature party joins a run.

    Attributes:
        party: the feature party's identity.
        mode: "train" or "predict".
        protection: must equal the label party's setting.
        in_dim: width d of the party's embedding.
        n_rows: aligned rows at this party (must equal the label party's).
        alignment_digest: the salted digest from `alignment.json`, proving the same order.
        public_key: the party's Paillier public key (protected mode).
        checkpoint_epochs: epochs this party holds checkpoints for (for resume).
        initial_share: plaintext mode only: E, so the baseline starts from W = W̃ + E.
        model_id: predict mode: the model this party's saved part belongs to (from its
            manifest); the label party refuses parts of another model.
    """

    party: str
    mode: Mode
    protection: Protection
    in_dim: int
    n_rows: int
    alignment_digest: str
    public_key: bytes = b""
    checkpoint_epochs: tuple[int, ...] = ()
    initial_share: npt.NDArray[np.float64] | None = None
    model_id: str = ""


@dataclass(frozen=True)
class HelloReply:
    """The label party's answer: session token, layer parameters and where to start.

    Attributes:
        session: token to quote in every later call.
        spec: the interactive layer's public parameters for this party.
        start_epoch: load the checkpoint saved after this many epochs (0: start fresh).
        epochs: total epochs of the run.
        model_id: train mode: the identifier every party writes into its model manifest
            when the run completes, binding the parts together.
        public_key: the label party's Paillier public key (protected mode): [[W̃]] and
            [[δ]] are under it, and so is everything H sends back for G to decrypt.
    """

    session: str
    spec: LayerSpec
    start_epoch: int
    epochs: int
    model_id: str = ""
    public_key: bytes = b""


@dataclass(frozen=True)
class Step:
    """What a feature party does next."""

    kind: StepKind
    epoch: int = 0
    batch: int = 0
    positions: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class TrainService(Protocol):
    """What the label party serves; transports carry these calls, nothing else."""

    def hello(self, party: str, msg: Hello) -> HelloReply:
        """Join (or re-join) the run."""

    def next_step(self, party: str, session: str) -> Step:
        """Block until the next step for this party is known."""

    def weights(self, party: str, session: str, batch: int) -> PackedMatrix | None:
        """[[W̃]] under the label party's key for this batch (None in plaintext mode)."""

    def forward(self, party: str, session: str, msg: ForwardRequest) -> None:
        """The party's projection for the current batch."""

    def backward(self, party: str, session: str, batch: int) -> BackwardReply:
        """Block until δ for `batch` is known; return the backward messages."""

    def backward_finish(self, party: str, session: str, msg: BackwardFinish | None) -> None:
        """Close the backward pass (None in plaintext mode)."""

    def epoch_saved(self, party: str, session: str, epoch: int) -> None:
        """Acknowledge that the party's checkpoint for `epoch` is on disk."""

    def abort(self, party: str, session: str, kind: str) -> None:
        """The party stopped on an error of its own (`kind`: the error's class name)."""
