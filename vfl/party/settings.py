"""The `[train]` section of a party's TOML: stage-2 settings, validated all at once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from vfl.crypto.keys import KEY_SCHEMES
from vfl.errors import ConfigError
from vfl.protocol import LayerSpec

__all__ = ["TrainConfig", "parse_train_config"]

log = logging.getLogger(__name__)

_PROTECTIONS = ("paillier", "plaintext")
_OPTIMIZERS = ("adam", "sgd")
_TASKS = ("binary", "multiclass", "regression")
_COMBINE = ("sum", "concat")


@dataclass(frozen=True)
class TrainConfig:
    """Stage-2 settings of one party.

    The label party's values rule the run; feature parties use their own seed, optimizer and
    learning rate for their towers, and must match `protection`.

    Attributes:
        protection: "paillier" (default) or "plaintext" (ordinary split learning: a baseline
            that shows every embedding to the label party; warns loudly).
        epochs: passes over the training positions.
        batch_size: rows per batch.
        seed: the shared seed (label party) or this party's own seed (feature party: tower
            initialisation and its secret weight share).
        val_fraction: share of aligned rows held out for validation, drawn from the seed.
        patience: early stopping after this many epochs without a better validation loss
            (0 disables it).
        optimizer: "adam" or "sgd" for towers and the fusion head.
        lr: learning rate of towers and the head.
        interactive_width: h, the shared latent width.
        interactive_lr: plain-SGD learning rate of the interactive weights.
        key_bits: Paillier modulus size, 2048 (default) or 3072.
        key_scheme: how this party's new Paillier key randomizes: "subgroup" (default: a
            published base of secret 448-bit order, about 4× faster decryption) or "djn"
            (each process its own base; the classic assumption). See THREAT_MODEL.md. Only
            used when the party generates its key (an existing key file is kept).
        peer_key_schemes: the schemes this party accepts for its peers' keys (default
            both). A party that does not trust its peer to generate a subgroup key honestly
            sets ["djn"] and refuses the run otherwise (THREAT_MODEL, residual leak 8).
        noise_scale: size of the noise each feature party folds into the weight gradient.
        task: "binary", "multiclass" or "regression" (label party).
        n_classes: classes of a multiclass task.
        combine: "sum" (default) or "concat" of the projections in the fusion head.
        hidden: widths of the head's hidden layers.
        workers: Paillier worker processes (default: the machine's cores).
        alpha_bound: declared bound of embedding entries (checked at encode time; the
            built-in towers end in tanh, so |α| <= 1).
        weight_bound: declared bound of the weight shares W̃ and E.
        grad_bound: declared bound of δ = ∂L/∂z entries (small for a mean loss).
            The label party's three bounds rule the run; the defaults keep every packed
            product of d = h = 32, B = 256 at one ciphertext per row under 2048-bit keys.
        torch_threads: torch CPU threads of this party process (default 1: parties often
            share a machine, and the Paillier pool already uses every core).
    """

    protection: str = "paillier"
    epochs: int = 5
    batch_size: int = 256
    seed: int = 0
    val_fraction: float = 0.2
    patience: int = 0
    optimizer: str = "adam"
    lr: float = 1e-3
    interactive_width: int = 32
    interactive_lr: float = 0.05
    key_bits: int = 2048
    key_scheme: str = "subgroup"
    peer_key_schemes: tuple[str, ...] = KEY_SCHEMES
    noise_scale: float = 1e-3
    task: str = "binary"
    n_classes: int = 2
    combine: str = "sum"
    hidden: tuple[int, ...] = (32,)
    workers: int | None = None
    alpha_bound: float = 2.0
    weight_bound: float = 8.0
    grad_bound: float = 2.0
    torch_threads: int = 1

    def layer_spec(self, in_dim: int) -> LayerSpec:
        """The interactive layer's public parameters for an embedding of width `in_dim`."""
        return LayerSpec(
            in_dim=in_dim,
            out_dim=self.interactive_width,
            batch_size=self.batch_size,
            alpha_bound=self.alpha_bound,
            weight_bound=self.weight_bound,
            grad_bound=self.grad_bound,
            lr=self.interactive_lr,
        )


def _choice(problems: list[str], key: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        problems.append(f"[train] {key} must be one of {', '.join(options)}, got {value!r}")


def _number_checks(cfg: Mapping[str, Any], problems: list[str]) -> None:
    positive = ("epochs", "batch_size", "interactive_width", "n_classes", "torch_threads")
    for key in positive:
        if key in cfg and (not isinstance(cfg[key], int) or cfg[key] < 1):
            problems.append(f"[train] {key} must be a positive integer")
    for key in ("lr", "interactive_lr", "alpha_bound", "weight_bound", "grad_bound"):
        if key in cfg and (not isinstance(cfg[key], int | float) or cfg[key] <= 0):
            problems.append(f"[train] {key} must be a positive number")
    if "val_fraction" in cfg and not (
        isinstance(cfg["val_fraction"], int | float) and 0 <= cfg["val_fraction"] < 1
    ):
        problems.append("[train] val_fraction must lie in [0, 1)")
    if "key_bits" in cfg and cfg["key_bits"] not in (1024, 2048, 3072):
        problems.append("[train] key_bits must be 2048 or 3072 (1024 for tests only)")


def parse_train_config(section: Mapping[str, Any] | None, problems: list[str]) -> TrainConfig:
    """Parse `[train]`, appending every problem to `problems` (defaults where absent)."""
    cfg = dict(section or {})
    known = {f.name for f in fields(TrainConfig)}
    for key in sorted(set(cfg) - known):
        problems.append(f"[train] unknown key {key!r}")
    _number_checks(cfg, problems)
    _choice(problems, "protection", cfg.get("protection", "paillier"), _PROTECTIONS)
    _choice(problems, "optimizer", cfg.get("optimizer", "adam"), _OPTIMIZERS)
    _choice(problems, "task", cfg.get("task", "binary"), _TASKS)
    _choice(problems, "combine", cfg.get("combine", "sum"), _COMBINE)
    _choice(problems, "key_scheme", cfg.get("key_scheme", "subgroup"), KEY_SCHEMES)
    peers = cfg.get("peer_key_schemes", list(KEY_SCHEMES))
    if not (isinstance(peers, list | tuple) and peers and set(peers) <= set(KEY_SCHEMES)):
        problems.append(
            f"[train] peer_key_schemes must be a non-empty list of {', '.join(KEY_SCHEMES)}"
        )
    values = {k: v for k, v in cfg.items() if k in known}
    for key in ("hidden", "peer_key_schemes"):
        if key in values:
            values[key] = tuple(values[key])
    if problems:
        return TrainConfig()
    result = TrainConfig(**values)
    if result.protection == "plaintext":
        log.warning(
            "PROTECTION IS OFF: protection = 'plaintext' sends every embedding and gradient "
            "in the clear. Use it only as a baseline, never on patient data."
        )
    if result.key_bits == 1024:
        log.warning("key_bits = 1024 is for tests only; it is not secure")
    return result


def require_valid(section: Mapping[str, Any] | None, source: str | None = None) -> TrainConfig:
    """Parse `[train]` alone, raising `ConfigError` listing every problem."""
    problems: list[str] = []
    result = parse_train_config(section, problems)
    if problems:
        raise ConfigError(problems, source)
    return result
