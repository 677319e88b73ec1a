"""Where the kernels run: a process pool sized to the cores, or in-process for one worker.

Workers are started with the `spawn` method (safe next to gRPC and torch threads, which a
`fork` would copy mid-state) and build their per-key state once, in the pool initializer.
The key holder's workers receive p and q through the pool's pipe; they are children of the
key holder's process and the secret never leaves the machine.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from vfl.crypto import _kernels
from vfl.crypto._kernels import KeyMaterial
from vfl.errors import ConfigError, CryptoError

__all__ = ["KernelRunner", "default_workers"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class KernelRunner:
    """Runs kernel tasks on `workers` processes (a lazily started pool) or in-process."""

    def __init__(self, material: KeyMaterial, workers: int | None) -> None:
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ConfigError("Paillier engine workers must be at least 1")
        self._material = material
        self._pool: ProcessPoolExecutor | None = None
        self._local_ready = False
        self._lock = threading.Lock()  # one pool even if two threads start it at once

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            return self._start()

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            logger.info("starting %d Paillier worker processes", self.workers)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_kernels.install,
                initargs=(self._material,),
            )
        return self._pool

    def map(self, fn: Callable[..., T], tasks: Sequence[tuple[Any, ...]]) -> list[T]:
        """Run `fn(key, *task)` for every task, in order (key: see `_kernels.state_key`)."""
        key = _kernels.state_key(self._material)
        if self.workers == 1:
            if not self._local_ready:
                _kernels.install(self._material)
                self._local_ready = True
            return [fn(key, *task) for task in tasks]
        pool = self._executor()
        try:
            futures = [pool.submit(fn, key, *task) for task in tasks]
            return [f.result() for f in futures]
        except BrokenProcessPool as exc:
            self.close()
            raise CryptoError("a Paillier worker process died; the pool was stopped") from exc

    def split(self, count: int) -> list[range]:
        """Split `count` items into about 4 chunks per worker (fewer pickles, balanced)."""
        if count == 0:
            return []
        parts = min(count, 4 * self.workers if self.workers > 1 else 1)
        step = -(-count // parts)
        return [range(i, min(i + step, count)) for i in range(0, count, step)]

    def close(self) -> None:
        """Stop the pool (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
