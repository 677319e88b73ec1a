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


def test_previous_run_tells_nothing_an_interrupted_run_and_a_completed_one(tmp_path: Path) -> None:
    assert outputs.previous_run(tmp_path / "missing") == outputs.PreviousRun("none")
    assert outputs.previous_run(tmp_path).state == "none"
    (tmp_path / ".vfl-tmp-abc").write_bytes(b"half")
    assert outputs.previous_run(tmp_path) == outputs.PreviousRun("interrupted", 1)
    outputs.clean(tmp_path)
    path = outputs.write_aligned(tmp_path, np.array([3, 1]))
    interrupted = outputs.previous_run(tmp_path)  # no alignment.json: not complete
    assert interrupted.state == "interrupted"
    assert interrupted.aligned_sha256 == outputs.file_sha256(path)
    outputs.write_summary(tmp_path, {"inputs_sha256": "ab"})
    assert outputs.previous_run(tmp_path) == outputs.PreviousRun(
        "complete", 0, "ab", outputs.file_sha256(path)
    )


def _write_in_child(target: Path, fault: str | None) -> int:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != outputs.FAULT_ENV}
    if fault is not None:
        env[outputs.FAULT_ENV] = fault
    code = (
        "import sys; from pathlib import Path; from psi.outputs import atomic_write; "
        "atomic_write(Path(sys.argv[1]), lambda fh: fh.write(b'whole'))"
    )
    return subprocess.run([sys.executable, "-c", code, str(target)], env=env).returncode


@pytest.mark.parametrize("point", ["before-rename", "after-rename"])
def test_fault_injection_kills_the_writer_at_its_point(tmp_path: Path, point: str) -> None:
    target = tmp_path / "epoch-0002.pt"
    assert _write_in_child(target, f"{point}:epoch-0002.pt") == -9  # SIGKILL, as a crash
    left = sorted(p.name for p in tmp_path.iterdir())
    if point == "before-rename":
        assert len(left) == 1 and left[0].startswith(outputs.TMP_PREFIX)
        assert outputs.sweep_temporaries(tmp_path) == 1
        assert list(tmp_path.iterdir()) == []
    else:
        assert left == ["epoch-0002.pt"] and target.read_bytes() == b"whole"


def test_fault_injection_is_inert_for_other_files_and_when_unset(tmp_path: Path) -> None:
    assert _write_in_child(tmp_path / "a.pt", "before-rename:epoch-0002.pt") == 0
    assert _write_in_child(tmp_path / "b.pt", None) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]
