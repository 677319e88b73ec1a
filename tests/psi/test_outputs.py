"""Outputs are atomic, and a rerun starts clean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from psi import outputs


def test_outputs_are_written_and_readable(tmp_path: Path) -> None:
    outputs.write_aligned(tmp_path, np.array([5, 2, 9]))
    outputs.write_summary(tmp_path, {"sizes": {"final": 3}})
    assert pq.read_table(tmp_path / "aligned.parquet")["row"].to_pylist() == [5, 2, 9]
    assert json.loads((tmp_path / "alignment.json").read_text())["sizes"]["final"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aligned.parquet", "alignment.json"]


def test_a_write_interrupted_midway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt  # as if the process were stopped mid-write

    monkeypatch.setattr(outputs.pq, "write_table", explode)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_aligned(tmp_path, np.array([1]))
    assert list(tmp_path.iterdir()) == []


def test_clean_removes_old_outputs_and_leftover_temp_files(tmp_path: Path) -> None:
    outputs.write_aligned(tmp_path, np.array([1]))
    outputs.write_summary(tmp_path, {})
    (tmp_path / ".vfl-tmp-abc").write_bytes(b"half")
    (tmp_path / "mine.txt").write_text("keep")
    outputs.clean(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
