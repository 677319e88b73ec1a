"""Atomic output files: a killed run leaves either the complete file or nothing.

`aligned.parquet` is written first and `alignment.json` last, so the presence of
`alignment.json` marks a completed alignment. `clean` runs at the start of every run: a rerun
never leaves an older run's output lying next to a failure. `previous_run` tells what an
earlier run left (nothing, an interrupted run, or a completed alignment), for `--resume`.

Fault injection (tests only): with the environment variable `VFL_FAULT_INJECT` set to
`<point>:<file name>`, the process kills itself with SIGKILL at that point of the atomic write
of that file, exactly as a crash would: `before-rename` (the temporary file is complete and
fsynced, the target not yet replaced) or `after-rename` (the target is in place, nothing after
it has run). Unset, the default, it does nothing; it never fires for another file name.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "ALIGNED",
    "FAULT_ENV",
    "SUMMARY",
    "TMP_PREFIX",
    "PreviousRun",
    "atomic_write",
    "clean",
    "file_sha256",
    "previous_run",
    "sweep_temporaries",
    "write_aligned",
    "write_summary",
]

ALIGNED = "aligned.parquet"
SUMMARY = "alignment.json"
TMP_PREFIX = ".vfl-tmp-"
FAULT_ENV = "VFL_FAULT_INJECT"


@dataclass(frozen=True)
class PreviousRun:
    """What an earlier alignment left in a workdir.

    Attributes:
        state: "none" (no trace), "interrupted" (temporary files or an output without the
            `alignment.json` completion marker) or "complete".
        leftovers: temporary files of a write that never finished.
        inputs_sha256: the completed run's input digest (None if not complete or not recorded).
        aligned_sha256: SHA-256 of its `aligned.parquet` (None if absent).
    """

    state: str
    leftovers: int = 0
    inputs_sha256: str | None = None
    aligned_sha256: str | None = None


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def previous_run(workdir: Path) -> PreviousRun:
    """Look at what an earlier run left in `workdir` (read only)."""
    if not workdir.is_dir():
        return PreviousRun("none")
    leftovers = len(list(workdir.glob(TMP_PREFIX + "*")))
    aligned = workdir / ALIGNED
    aligned_sha = file_sha256(aligned) if aligned.is_file() else None
    try:
        summary = json.loads((workdir / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    if not isinstance(summary, dict):
        state = "interrupted" if leftovers or aligned_sha else "none"
        return PreviousRun(state, leftovers, None, aligned_sha)
    inputs = summary.get("inputs_sha256")
    return PreviousRun(
        "complete", leftovers, inputs if isinstance(inputs, str) else None, aligned_sha
    )


def sweep_temporaries(directory: Path) -> int:
    """Remove temporary files a killed writer left in `directory`; return how many."""
    if not directory.is_dir():
        return 0
    found = list(directory.glob(TMP_PREFIX + "*"))
    for leftover in found:
        leftover.unlink(missing_ok=True)
    return len(found)


def clean(workdir: Path) -> None:
    """Create `workdir` if needed and remove earlier outputs and leftover temp files."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in (SUMMARY, ALIGNED):
        (workdir / name).unlink(missing_ok=True)
    sweep_temporaries(workdir)


def _fault_point(point: str, path: Path) -> None:
    """SIGKILL this process here if `VFL_FAULT_INJECT` names this point and file (tests only)."""
    if os.environ.get(FAULT_ENV) == f"{point}:{path.name}":
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write `path` atomically: `write` fills a temp file, which is fsynced and renamed."""
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _fault_point("before-rename", path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    _fault_point("after-rename", path)


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
