"""Convolutional towers for images: `image2d-cnn` ``(C, H, W)`` and `image3d-cnn` ``(C, D, H, W)``.

The first block is a patch-embedding convolution (kernel = stride = ``stem``: 4 for 2-D, 2 for
3-D), each further block a stride-2 3×3(×3) convolution; every block is conv → [BatchNorm] →
ReLU. The learned patch stem keeps every pixel's information yet shrinks the map at once, which
is where the CPU time goes: on 64×64 single-channel images, batch 256, forward + backward with
the defaults takes about 0.05 s on one core (a 3×3 stride-2 first layer took 0.12–0.15 s,
mostly in its backward convolution). An adaptive average pool
to ``pool`` cells per axis makes the tower accept any image size, then a Linear maps to
``out_dim`` followed by the output activation (``tanh`` by default: embeddings in [-1, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from vfl.errors import TowerError
from vfl.towers._options import Options, expect_rank, make_activation
from vfl.towers.base import TowerSpec

__all__ = ["image2d_cnn", "image3d_cnn"]

_DEFAULTS_2D = {
    "channels": [8, 16, 32],
    "stem": 4,
    "pool": 2,
    "batch_norm": True,
    "dropout": 0.0,
    "output_activation": "tanh",
}
_DEFAULTS_3D = {**_DEFAULTS_2D, "channels": [4, 8, 16], "stem": 2}

_LAYERS: dict[int, tuple[type[nn.Module], type[nn.Module], type[nn.Module]]] = {
    2: (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d),
    3: (nn.Conv3d, nn.BatchNorm3d, nn.AdaptiveAvgPool3d),
}


def _conv_stack(
    in_channels: int, channels: Sequence[int], dims: int, stem: int, batch_norm: bool
) -> list[nn.Module]:
    conv, norm, _ = _LAYERS[dims]
    layers: list[nn.Module] = []
    width = in_channels
    for i, size in enumerate(channels):
        kernel, stride, pad = (stem, stem, 0) if i == 0 else (3, 2, 1)
        layers.append(conv(width, size, kernel, stride=stride, padding=pad, bias=not batch_norm))
        if batch_norm:
            layers.append(norm(size))
        layers.append(nn.ReLU())
        width = size
    return layers


def _cnn(spec: TowerSpec, dims: int, defaults: dict[str, object], layout: str) -> nn.Sequential:
    expect_rank(spec, dims + 1, layout)
    opts = Options(spec, defaults)
    channels = opts.ints("channels")
    pool, stem = opts.integer("pool"), opts.integer("stem")
    dropout = opts.probability("dropout")
    if min(spec.input_shape[1:]) < stem:
        raise TowerError(
            f"tower {spec.name!r}: spatial size {spec.input_shape[1:]} is smaller than stem={stem}"
        )
    layers = _conv_stack(spec.input_shape[0], channels, dims, stem, opts.flag("batch_norm"))
    layers += [_LAYERS[dims][2](pool), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers += [
        nn.Linear(channels[-1] * pool**dims, spec.out_dim),
        make_activation(opts.activation("output_activation")),
    ]
    return nn.Sequential(*layers)


def image2d_cnn(spec: TowerSpec) -> nn.Module:
    """Tower for 2-D images (X-ray, slices, histology tiles), input ``(C, H, W)``.

    Options: ``channels`` (conv widths, one block each, default ``[8, 16, 32]``), ``stem``
    (kernel and stride of the first, patch-embedding convolution, 4), ``pool`` (cells per axis
    after adaptive pooling, 2), ``batch_norm`` (true), ``dropout`` (0.0, before the last
    Linear), ``output_activation`` (``"tanh"``).
    """
    return _cnn(spec, 2, _DEFAULTS_2D, "(C, H, W)")


def image3d_cnn(spec: TowerSpec) -> nn.Module:
    """Tower for volumes (CT, MRI), input ``(C, D, H, W)``.

    Options as `image2d_cnn`; ``channels`` defaults to ``[4, 8, 16]`` and ``stem`` to 2, since
    volumes are usually smaller per axis and 3-D convolutions cost more per voxel.
    """
    return _cnn(spec, 3, _DEFAULTS_3D, "(C, D, H, W)")
