"""image2d-cnn must be cheap on CPU at the benchmark's size (64×64, batch 256, out_dim 32)."""

from __future__ import annotations

import time

import pytest
import torch

from vfl.towers import build_tower


@pytest.mark.slow
def test_image2d_cnn_forward_backward_is_well_under_200ms_on_one_core() -> None:
    assert torch.get_num_threads() == 1  # set by conftest.py
    torch.manual_seed(0)
    tower = build_tower({"name": "image2d-cnn", "out_dim": 32, "input_shape": [1, 64, 64]})
    x = torch.randn(256, 1, 64, 64)
    timings = []
    for _ in range(7):
        start = time.perf_counter()
        tower.module(x).square().mean().backward()
        timings.append(time.perf_counter() - start)

    assert min(timings[2:]) < 0.2  # about 0.05 s on an idle core
