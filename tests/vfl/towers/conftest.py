"""Tower tests run torch on one thread.

On this shared two-core machine, torch's default of one OpenMP thread per core makes tiny
ops wait on a busy sibling core (a 64-row step of a small MLP took 0.1-0.2 s with two threads
under load, under 1 ms with one); one thread keeps these small cases fast and timings stable.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
