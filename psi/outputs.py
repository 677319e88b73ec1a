"""Atomic output files: a killed run leaves either the complete file or nothing.

`aligned.parquet` is written first and `alignment.json` last, so the presence of
`alignment.json` marks a completed alignment. `clean` runs at the start of every run: a rerun
never leaves an older run's output lying next to a failure.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["ALIGNED", "SUMMARY", "atomic_write", "clean", "write_aligned", "write_summary"]

ALIGNED = "aligned.parquet"
SUMMARY = "alignment.json"
_TMP_PREFIX = ".vfl-tmp-"


def clean(workdir: Path) -> None:
    """Create `workdir` if needed and remove earlier outputs and leftover temp files."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in (SUMMARY, ALIGNED):
        (workdir / name).unlink(missing_ok=True)
    for leftover in workdir.glob(_TMP_PREFIX + "*"):
        leftover.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write `path` atomically: `write` fills a temp file, which is fsynced and renamed."""
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_aligned(workdir: Path, rows: npt.NDArray[np.int64]) -> Path:
    """Write `aligned.parquet`: column `row` = this party's file row for positions 0..n-1."""
    table = pa.table({"row": pa.array(np.asarray(rows, dtype=np.int64))})
    path = workdir / ALIGNED
    atomic_write(path, lambda fh: pq.write_table(table, fh))
    return path


def write_summary(workdir: Path, summary: Mapping[str, Any]) -> Path:
    """Write `alignment.json` (the completion marker) atomically."""
    data = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()
    path = workdir / SUMMARY

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    atomic_write(path, write)
    return path
