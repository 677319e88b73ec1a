"""MLP towers for vector inputs: `genomics-mlp` and `tabular-mlp`.

Both map ``(batch, n_features)`` through Linear → [BatchNorm] → ReLU → [Dropout] blocks to a
Linear of width ``out_dim`` and an output activation (``tanh`` by default, so embeddings stay in
[-1, 1], which keeps the Paillier fixed-point encoding's value bounds tight).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from vfl.towers._options import Options, expect_rank, make_activation
from vfl.towers.base import TowerSpec

__all__ = ["build_mlp", "genomics_mlp", "tabular_mlp"]

_GENOMICS_DEFAULTS = {
    "hidden": [128],
    "dropout": 0.1,
    "batch_norm": False,
    "output_activation": "tanh",
}
_TABULAR_DEFAULTS = {
    "hidden": [64, 32],
    "dropout": 0.0,
    "batch_norm": False,
    "output_activation": "tanh",
}


def build_mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    *,
    dropout: float = 0.0,
    batch_norm: bool = False,
    output_activation: str = "tanh",
) -> nn.Sequential:
    """Return an MLP: hidden blocks, then Linear(out_dim) and the output activation."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers += [nn.Linear(width, out_dim), make_activation(output_activation)]
    return nn.Sequential(*layers)


def _vector_mlp(spec: TowerSpec, defaults: dict[str, object]) -> nn.Sequential:
    expect_rank(spec, 1, "(n_features,)")
    opts = Options(spec, defaults)
    return build_mlp(
        spec.input_shape[0],
        opts.ints("hidden"),
        spec.out_dim,
        dropout=opts.probability("dropout"),
        batch_norm=opts.flag("batch_norm"),
        output_activation=opts.activation("output_activation"),
    )


def genomics_mlp(spec: TowerSpec) -> nn.Module:
    """Tower for SNP dosages or expression vectors, input ``(n_features,)``.

    Options: ``hidden`` (widths, default ``[128]``), ``dropout`` (0.1), ``batch_norm`` (false),
    ``output_activation`` (``"tanh"``; also ``"relu"``, ``"sigmoid"``, ``"none"``).
    """
    return _vector_mlp(spec, _GENOMICS_DEFAULTS)


def tabular_mlp(spec: TowerSpec) -> nn.Module:
    """Tower for clinical tables (numeric, already encoded), input ``(n_features,)``.

    Options: ``hidden`` (default ``[64, 32]``), ``dropout`` (0.0), ``batch_norm`` (false: with
    1-D batch norm a training batch of one row fails, e.g. a short last batch),
    ``output_activation`` (``"tanh"``).
    """
    return _vector_mlp(spec, _TABULAR_DEFAULTS)
