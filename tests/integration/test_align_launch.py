"""The helpers that set up and launch parties (`vfl.party.launch`)."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest

from vfl.config import load_config
from vfl.party.launch import free_port, write_config, write_id_cohorts


def test_cohorts_share_exactly_the_requested_ids(tmp_path: Path) -> None:
    paths = write_id_cohorts(tmp_path, {"a": 300, "b": 200, "c": 120}, shared=100, seed=3)
    sets = {n: set(p.read_text().splitlines()[1:]) for n, p in paths.items()}
    assert {n: len(s) for n, s in sets.items()} == {"a": 300, "b": 200, "c": 120}
    assert len(sets["a"] & sets["b"] & sets["c"]) == 100
    assert len(sets["a"] & sets["b"]) == 100  # nothing shared beyond the common part
    with pytest.raises(ValueError, match="fewer than"):
        write_id_cohorts(tmp_path, {"a": 10}, shared=20)


def test_written_config_round_trips_through_the_loader(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "p.toml",
        {
            "party": {"name": "imaging", "role": "feature", "run_id": 'r "1"', "workdir": tmp_path},
            "network": {"peer": "127.0.0.1:5", "insecure": True, "timeout_s": 2.5},
            "align": {"ids_file": "ids.csv", "id_column": "pid", "case_fold": False},
            "train": {"layers": [1, 2]},
        },
    )
    assert tomllib.loads(path.read_text())["train"] == {"layers": [1, 2]}
    cfg = load_config(path)
    assert cfg.party.run_id == 'r "1"' and cfg.network.timeout_s == 2.5
    assert cfg.party.workdir == tmp_path and cfg.extra == {"train": {"layers": [1, 2]}}


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
