"""Per-party checkpoints, written atomically, one file per completed epoch.

A checkpoint holds only the party's own state (its tower, optimizer, weight share, RNG
state, step). Files are written to a temporary name, fsynced and renamed, so a process
killed at any instant leaves either the previous checkpoint or the new one, never half of one.
The temporary file a killed writer leaves behind is never read as a checkpoint (its name does
not match); `vfl train` and `vfl predict` remove it when the party restarts
(`psi.outputs.sweep_temporaries`). Crashes inside a checkpoint write are tested with the
`VFL_FAULT_INJECT` hook of `psi.outputs.atomic_write`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, BinaryIO

import torch

from psi.outputs import atomic_write, file_sha256
from vfl.errors import CheckpointError

__all__ = ["CheckpointStore", "atomic_write_bytes", "file_sha256"]

_NAME = re.compile(r"^epoch-(\d{4,})\.pt$")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file, fsync, rename, fsync the directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(handle: BinaryIO) -> None:
        handle.write(data)

    atomic_write(path, write)


class CheckpointStore:
    """Checkpoints of one party in `directory`, keyed by completed epochs.

    Args:
        directory: where `epoch-NNNN.pt` files live.
        run_id: stored in every checkpoint and checked on load.
    """

    def __init__(self, directory: Path, run_id: str) -> None:
        self.directory = directory
        self.run_id = run_id

    def epochs(self) -> tuple[int, ...]:
        """Completed epochs with a checkpoint, ascending."""
        if not self.directory.is_dir():
            return ()
        found = (_NAME.match(p.name) for p in self.directory.iterdir())
        return tuple(sorted(int(m.group(1)) for m in found if m))

    def latest(self) -> int:
        """The newest checkpointed epoch, or 0 when there is none."""
        epochs = self.epochs()
        return epochs[-1] if epochs else 0

    def save(self, epoch: int, state: dict[str, Any]) -> Path:
        """Save the state after `epoch` completed epochs."""
        buffer = io.BytesIO()
        torch.save({"run_id": self.run_id, "epoch": epoch, "state": state}, buffer)
        path = self._path(epoch)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def load(self, epoch: int) -> dict[str, Any]:
        """Load the state saved after `epoch` epochs.

        Raises:
            CheckpointError: if it is missing, unreadable or from another run.
        """
        path = self._path(epoch)
        if not path.is_file():
            raise CheckpointError(f"no checkpoint for epoch {epoch} in {self.directory}")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means corrupt
            raise CheckpointError(f"checkpoint {path} is unreadable: {exc}") from exc
        if not isinstance(blob, dict) or blob.get("run_id") != self.run_id:
            raise CheckpointError(f"checkpoint {path} belongs to another run")
        state = blob.get("state")
        if not isinstance(state, dict):
            raise CheckpointError(f"checkpoint {path} is malformed")
        return state

    def clear(self) -> None:
        """Remove every checkpoint (a fresh, non-resumed run starts clean)."""
        for epoch in self.epochs():
            self._path(epoch).unlink(missing_ok=True)

    def _path(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch:04d}.pt"
