"""The label party's top model: fuse per-party projections, then predict.

Each feature party's embedding reaches the label party only as ``z_p = α_p · W_p`` (batch × h),
already projected into the shared latent space by the protected interactive layer. The label
party's own tower, if it has one, is projected by a `LocalProjection`. The head combines them,
by sum (default; the interactive layer of DESIGN §3) or by concatenation, adds a bias, applies
the activation and runs the top MLP:

    fused = act(Σ_p z_p + own · W_own + b)            (combine = "sum")
    fused = act([z_1, …, z_P, own · W_own] + b)       (combine = "concat")
    logits = top_mlp(fused)

`head_backward` runs one step's forward and backward and returns ``∂L/∂z_p`` per party: the
gradient δ the protocol sends back (protected) to each feature party.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from vfl.errors import ConfigError, TrainingError
from vfl.fusion.tasks import Task

__all__ = ["FusionHead", "HeadStep", "LocalProjection", "head_backward"]

Combine = Literal["sum", "concat"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "none": nn.Identity,
}


class LocalProjection(nn.Linear):
    """The label party's own tower embedding → the shared latent space (``own · W_own``).

    Without a bias by default: the fusion head adds one bias after combining, so a second one
    here would only duplicate it.
    """

    def __init__(self, in_dim: int, latent_dim: int, bias: bool = False) -> None:
        super().__init__(in_dim, latent_dim, bias=bias)


class FusionHead(nn.Module):
    """Combine per-party projections, add a bias, activate, run the top MLP.

    Args:
        parties: Names of the feature parties whose projections ``zs`` will hold; their
            order fixes the concatenation order.
        latent_dim: Interactive width h of every projection.
        task: What to predict; sets the output width.
        combine: ``"sum"`` (default) or ``"concat"``.
        local_dim: Width of the label party's own tower embedding; None if it has none.
        activation: ``"relu"`` (default), ``"tanh"``, ``"sigmoid"`` or ``"none"``.
        hidden: Widths of the top MLP's hidden layers (ReLU); empty for a single Linear.
        dropout: Dropout before each Linear of the top MLP.

    Raises:
        ConfigError: Every invalid argument, reported together.
    """

    def __init__(
        self,
        parties: Sequence[str],
        latent_dim: int,
        task: Task,
        *,
        combine: Combine = "sum",
        local_dim: int | None = None,
        activation: str = "relu",
        hidden: Sequence[int] = (),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _validate(parties, latent_dim, combine, local_dim, activation, hidden, dropout)
        self.parties = tuple(parties)
        self.latent_dim = latent_dim
        self.combine = combine
        self.task = task
        self.local = LocalProjection(local_dim, latent_dim) if local_dim is not None else None
        n_inputs = len(self.parties) + (self.local is not None)
        fused = latent_dim * (n_inputs if combine == "concat" else 1)
        self.bias = nn.Parameter(torch.zeros(fused))
        self.activation = _ACTIVATIONS[activation]()
        self.top = _mlp(fused, hidden, task.n_outputs, dropout)

    def forward(
        self, zs: Mapping[str, torch.Tensor], local: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Return the task's logits, shape (batch, task.n_outputs).

        Args:
            zs: Projection ``z_p`` (batch × latent_dim) of every feature party, by name.
            local: The label party's own tower embedding, iff the head was built with
                ``local_dim``.

        Raises:
            TrainingError: A party is missing or unexpected, or a shape does not match.
        """
        parts = [zs[name] for name in self._check_inputs(zs, local)]
        if self.local is not None and local is not None:
            parts.append(self.local(local))
        fused = torch.cat(parts, dim=1) if self.combine == "concat" else torch.stack(parts).sum(0)
        out: torch.Tensor = self.top(self.activation(fused + self.bias))
        return out

    def _check_inputs(
        self, zs: Mapping[str, torch.Tensor], local: torch.Tensor | None
    ) -> tuple[str, ...]:
        if set(zs) != set(self.parties):
            raise TrainingError(
                f"fusion head expects projections from {sorted(self.parties)}, got {sorted(zs)}"
            )
        if (local is None) != (self.local is None):
            want = "needs" if self.local is not None else "has no projection for"
            raise TrainingError(f"fusion head {want} the label party's own embedding")
        batch = {z.shape[0] for z in zs.values()} | (
            {local.shape[0]} if local is not None else set()
        )
        if len(batch) != 1:
            raise TrainingError(f"inputs disagree on the batch size: {sorted(batch)}")
        for name in self.parties:
            if zs[name].ndim != 2 or zs[name].shape[1] != self.latent_dim:
                raise TrainingError(
                    f"projection from {name!r} has shape {tuple(zs[name].shape)}, "
                    f"expected (batch, {self.latent_dim})"
                )
        return self.parties


def _validate(
    parties: Sequence[str],
    latent_dim: int,
    combine: str,
    local_dim: int | None,
    activation: str,
    hidden: Sequence[int],
    dropout: float,
) -> None:
    problems = []
    if len(set(parties)) != len(parties) or (not parties and local_dim is None):
        problems.append("parties must be distinct, and at least one input is needed")
    if latent_dim < 1:
        problems.append(f"latent_dim must be >= 1, got {latent_dim}")
    if combine not in ("sum", "concat"):
        problems.append(f"combine must be 'sum' or 'concat', got {combine!r}")
    if local_dim is not None and local_dim < 1:
        problems.append(f"local_dim must be >= 1, got {local_dim}")
    if activation not in _ACTIVATIONS:
        problems.append(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if any(width < 1 for width in hidden):
        problems.append(f"hidden widths must be >= 1, got {list(hidden)}")
    if not 0 <= dropout < 1:
        problems.append(f"dropout must lie in [0, 1), got {dropout}")
    if problems:
        raise ConfigError(problems, source="fusion head")


def _mlp(in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_dim
    for size in [*hidden, out_dim]:
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width, size))
        layers.append(nn.ReLU())
        width = size
    return nn.Sequential(*layers[:-1])


@dataclass(frozen=True)
class HeadStep:
    """One step's results at the label party.

    Attributes:
        loss: The batch's mean loss (detached).
        logits: The head's outputs (detached), for metrics over the epoch.
        grads: ``∂L/∂z_p`` per feature party, same shape as its ``z_p``.
    """

    loss: torch.Tensor
    logits: torch.Tensor
    grads: dict[str, torch.Tensor]


def head_backward(
    head: FusionHead,
    zs: Mapping[str, torch.Tensor | npt.NDArray[np.floating]],
    targets: torch.Tensor | npt.NDArray[np.generic],
    local: torch.Tensor | None = None,
) -> HeadStep:
    """Forward and backward through the head; gradients land in the head's parameters.

    Each ``z_p`` enters as a fresh leaf, so its gradient is returned rather than flowing
    further (it leaves through the protocol). `local` keeps its graph: the gradient reaches the
    label party's own tower, whose optimizer steps with the head's. The caller zeroes
    gradients before and steps the optimizer after.

    Args:
        head: The fusion head.
        zs: Projections per feature party (tensors or arrays, cast to the head's dtype).
        targets: The batch's labels (tensor or array).
        local: The label party's own tower output, if any.
    """
    dtype = head.bias.dtype
    leaves = {
        name: torch.as_tensor(z, dtype=dtype).detach().requires_grad_(True)
        for name, z in zs.items()
    }
    logits = head(leaves, local)
    loss = head.task.loss(logits, torch.as_tensor(targets))
    torch.autograd.backward(loss)
    grads = {}
    for name, leaf in leaves.items():
        grads[name] = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
    return HeadStep(loss=loss.detach(), logits=logits.detach(), grads=grads)
