"""Run two independent engine calls at once.

Each party holds two engines (its own key and its peer's), each with its own worker pool.
Where a protocol step has two independent pieces of Paillier work on different engines,
running them together keeps the cores busy through each call's serial parts (packing,
pickling, unpacking in the calling process).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["both"]

A = TypeVar("A")
B = TypeVar("B")


def both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Run `first` on a helper thread and `second` here; return both results.

    An exception from either is raised here (the other call is still waited for).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vfl-paillier") as pool:
        future = pool.submit(first)
        try:
            second_result = second()
        finally:
            first_result = future.result()
    return first_result, second_result
