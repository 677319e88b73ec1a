"""Each party's part of a trained model, and the manifest that binds the parts.

A party saves only what it owns: the label party its fusion head and weight shares, a
feature party its tower and its weight share. Every manifest names the run, the model id the
label party chose (the same at every party) and the SHA-256 of its own part, so prediction
refuses a part that was altered or that belongs to another model.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vfl.errors import CheckpointError
from vfl.party.checkpoint import atomic_write_bytes, file_sha256

__all__ = ["load_model_part", "save_model_part"]

_PART, _MANIFEST = "part.pt", "manifest.json"


def save_model_part(
    directory: Path, *, manifest: Mapping[str, Any], state: Mapping[str, Any]
) -> Path:
    """Write `state` and a manifest (with the part's hash) atomically into `directory`."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write_bytes(directory / _PART, buffer.getvalue())
    full = {
        **manifest,
        "part": _PART,
        "part_sha256": file_sha256(directory / _PART),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_bytes(directory / _MANIFEST, json.dumps(full, indent=1).encode())
    return directory / _MANIFEST


def load_model_part(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a party's manifest and part, checking the part's hash.

    Raises:
        CheckpointError: missing files, or a part whose hash differs from the manifest's.
    """
    manifest_path = directory / _MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"no readable model manifest at {manifest_path}") from exc
    part = directory / str(manifest.get("part", _PART))
    if not part.is_file() or file_sha256(part) != manifest.get("part_sha256"):
        raise CheckpointError(f"model part {part} is missing or differs from its manifest")
    state = torch.load(part, map_location="cpu", weights_only=False)
    if not isinstance(state, dict):
        raise CheckpointError(f"model part {part} is malformed")
    return manifest, state
