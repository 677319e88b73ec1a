"""`genomics-autoencoder`: an MLP encoder used as the tower, with a decoder for local pretraining.

A feature party can pretrain the encoder on its own data before joint training, with no labels
and no other party involved (`pretrain_autoencoder`); the joint training then fine-tunes the
encoder as an ordinary tower. The decoder stays part of the module (so it is checkpointed) but
receives no gradient from the split model, since `forward` only runs the encoder.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from vfl.errors import TowerError
from vfl.towers._options import Options, expect_rank
from vfl.towers.base import TowerSpec
from vfl.towers.mlp import build_mlp

__all__ = [
    "AutoencoderTower",
    "genomics_autoencoder",
    "pretrain_autoencoder",
    "reconstruction_loss",
]

logger = logging.getLogger(__name__)

_DEFAULTS = {
    "hidden": [256],
    "dropout": 0.0,
    "batch_norm": False,
    "output_activation": "tanh",
}


class AutoencoderTower(nn.Module):
    """Encoder + decoder; calling it runs the encoder only (the tower's embedding)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the embedding of `x`."""
        out: torch.Tensor = self.encoder(x)
        return out

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Return the decoder's reconstruction of `x`."""
        out: torch.Tensor = self.decoder(self.encoder(x))
        return out


def genomics_autoencoder(spec: TowerSpec) -> nn.Module:
    """Autoencoder tower for SNP dosages or expression vectors, input ``(n_features,)``.

    Options: ``hidden`` (encoder widths, default ``[256]``; the decoder mirrors them),
    ``dropout`` (0.0), ``batch_norm`` (false), ``output_activation`` (``"tanh"``, applied to
    the embedding). The decoder ends in a plain Linear (reconstruction under MSE).
    """
    expect_rank(spec, 1, "(n_features,)")
    opts = Options(spec, _DEFAULTS)
    hidden = opts.ints("hidden")
    dropout, batch_norm = opts.probability("dropout"), opts.flag("batch_norm")
    n_features = spec.input_shape[0]
    encoder = build_mlp(
        n_features,
        hidden,
        spec.out_dim,
        output_activation=opts.activation("output_activation"),
        dropout=dropout,
        batch_norm=batch_norm,
    )
    decoder = build_mlp(
        spec.out_dim,
        hidden[::-1],
        n_features,
        output_activation="none",
        dropout=dropout,
        batch_norm=batch_norm,
    )
    return AutoencoderTower(encoder, decoder)


def _parts(module: nn.Module) -> tuple[nn.Module, nn.Module]:
    encoder, decoder = getattr(module, "encoder", None), getattr(module, "decoder", None)
    if not isinstance(encoder, nn.Module) or not isinstance(decoder, nn.Module):
        raise TowerError(
            f"pretraining needs a module with `encoder` and `decoder` sub-modules "
            f"(e.g. genomics-autoencoder), got {type(module).__name__}"
        )
    return encoder, decoder


def _as_tensor(x: torch.Tensor | npt.NDArray[np.floating]) -> torch.Tensor:
    data = torch.as_tensor(x, dtype=torch.float32)
    if data.ndim < 2 or data.shape[0] == 0:
        raise TowerError(
            f"pretraining data must be a non-empty batch, got shape {tuple(data.shape)}"
        )
    return data


def reconstruction_loss(
    module: nn.Module, x: torch.Tensor | npt.NDArray[np.floating], batch_size: int = 1024
) -> float:
    """Mean squared reconstruction error of `module` on `x`, in eval mode, without gradients."""
    encoder, decoder = _parts(module)
    data = _as_tensor(x)
    was_training = module.training
    module.eval()
    total = 0.0
    with torch.no_grad():
        for chunk in torch.split(data, batch_size):
            recon = decoder(encoder(chunk))
            total += float(nn.functional.mse_loss(recon, chunk, reduction="sum"))
    module.train(was_training)
    return total / data.numel()


def pretrain_autoencoder(
    module: nn.Module,
    x: torch.Tensor | npt.NDArray[np.floating],
    epochs: int = 10,
    *,
    batch_size: int = 256,
    lr: float = 1e-3,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Train encoder and decoder to reconstruct `x`: local, unsupervised, label-free.

    Runs at the feature party's own site on its own rows; nothing leaves the site. With
    ``noise > 0`` the inputs are corrupted with Gaussian noise of that standard deviation
    (a denoising autoencoder); the target stays the clean input.

    Args:
        module: A `genomics-autoencoder` tower (anything with `encoder` and `decoder`).
        x: Training rows, shape ``(n_samples, n_features)``.
        epochs: Passes over `x`.
        batch_size: Rows per optimizer step.
        lr: Adam learning rate.
        noise: Standard deviation of the input corruption; 0 disables it.
        generator: Source of shuffling and noise randomness; the global RNG if omitted.

    Returns:
        The mean training reconstruction loss of each epoch.

    Raises:
        TowerError: The module has no encoder/decoder, or the arguments are out of range.
    """
    encoder, decoder = _parts(module)
    data = _as_tensor(x)
    if epochs < 1 or batch_size < 1 or lr <= 0 or noise < 0:
        raise TowerError("pretraining needs epochs >= 1, batch_size >= 1, lr > 0 and noise >= 0")
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    was_training = module.training
    module.train()
    history = []
    for epoch in range(epochs):
        history.append(_epoch(encoder, decoder, data, optimizer, batch_size, noise, generator))
        logger.info(
            "autoencoder pretraining epoch %d/%d: loss %.5f", epoch + 1, epochs, history[-1]
        )
    module.train(was_training)
    return history


def _epoch(
    encoder: nn.Module,
    decoder: nn.Module,
    data: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    noise: float,
    generator: torch.Generator | None,
) -> float:
    order = torch.randperm(data.shape[0], generator=generator)
    total, seen = 0.0, 0
    for index in torch.split(order, batch_size):
        if len(index) == 1 and data.shape[0] > 1:
            continue  # a lone trailing row would break batch norm; it is seen next epoch
        target = data[index]
        inputs = target
        if noise > 0:
            inputs = target + noise * torch.randn(target.shape, generator=generator)
        loss = nn.functional.mse_loss(decoder(encoder(inputs)), target)
        optimizer.zero_grad()
        torch.autograd.backward(loss)
        optimizer.step()
        total += float(loss.detach()) * len(index)
        seen += len(index)
    return total / seen
