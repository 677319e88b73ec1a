"""Adding a tower from outside the package, exactly as docs/TOWERS.md says.

The code and TOML blocks are read from the doc itself, so the doc and this test cannot drift.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from vfl.errors import TowerError
from vfl.towers import ENTRY_POINT_GROUP, build_tower, default_registry

DOC = Path(__file__).resolve().parents[3] / "docs" / "TOWERS.md"
_BLOCK = re.compile(r"<!-- (?P<label>[^>]+?) -->\s*```\w+\n(?P<body>.*?)```", re.DOTALL)


def _blocks() -> dict[str, str]:
    return {m["label"]: m["body"] for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sys.path directory holding the doc's package (step 1), removed again afterwards."""
    for label, body in _blocks().items():
        if label.startswith("file: "):
            target = tmp_path / label.removeprefix("file: ")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            (target.parent / "__init__.py").touch()
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m == "mytowers" or m.startswith("mytowers.")]:
        del sys.modules[name]


def _install_entry_points(site: Path) -> None:
    """Write the dist-info `pip install` would write for the doc's pyproject snippet."""
    pyproject = tomllib.loads(_blocks()["pyproject: entry points"])
    points = pyproject["project"]["entry-points"][ENTRY_POINT_GROUP]
    dist = site / "mytowers-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mytowers\nVersion: 0.1\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in points.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


def _tower_table(label: str) -> dict[str, object]:
    table: dict[str, object] = tomllib.loads(_blocks()[label])["tower"]
    return table


def test_doc_has_every_block_this_test_relies_on() -> None:
    labels = set(_blocks())

    assert {"file: mytowers/ecg.py", "config: import path"} <= labels
    assert {"pyproject: entry points", "config: entry point"} <= labels


def test_tower_resolves_by_import_path_as_the_doc_says(site: Path) -> None:
    torch.manual_seed(0)
    table = _tower_table("config: import path")

    built = build_tower(table)

    x = torch.randn(4, *built.input_shape)
    assert built.module(x).shape == (4, table["out_dim"])
    assert type(built.module).__module__ == "torch.nn.modules.container"


def test_tower_resolves_by_entry_point_as_the_doc_says(site: Path) -> None:
    _install_entry_points(site)
    table = _tower_table("config: entry point")

    built = build_tower(table)

    assert built.module(torch.randn(2, 12, 500)).shape == (2, table["out_dim"])
    assert table["name"] in default_registry().names()


def test_entry_point_name_is_unknown_before_installation(site: Path) -> None:
    with pytest.raises(TowerError, match="unknown tower 'ecg-cnn'"):
        build_tower(_tower_table("config: entry point"))


def test_doc_factory_rejects_a_wrong_input_shape_with_a_tower_error(site: Path) -> None:
    table = {**_tower_table("config: import path"), "input_shape": [500]}

    with pytest.raises(TowerError, match="ecg_tower needs input_shape"):
        build_tower(table)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("mytowers.nope:ecg_tower", "cannot import module 'mytowers.nope'"),
        ("mytowers.ecg:nope", "has no attribute 'nope'"),
        ("mytowers.ecg:nn", "is not callable"),
        ("mytowers.ecg:", "expected 'package.module:factory'"),
    ],
)
def test_bad_import_paths_name_the_problem_and_the_known_towers(
    site: Path, name: str, fragment: str
) -> None:
    with pytest.raises(TowerError, match=fragment) as info:
        build_tower({"name": name, "out_dim": 4, "input_shape": [12, 500]})

    assert "genomics-mlp" in str(info.value)


def test_broken_entry_point_is_a_tower_error(site: Path) -> None:
    dist = site / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = mytowers.gone:f\n")

    with pytest.raises(TowerError, match="entry point 'mytowers.gone:f' failed to load"):
        build_tower({"name": "broken", "out_dim": 4, "input_shape": [3]})


def test_an_entry_point_cannot_shadow_a_builtin(site: Path) -> None:
    dist = site / "shadow-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shadow\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ngenomics-mlp = mytowers.ecg:ecg_tower\n"
    )

    built = build_tower({"name": "genomics-mlp", "out_dim": 4, "input_shape": [10]})

    assert isinstance(next(built.module.children()), torch.nn.Linear)
    assert default_registry().names().count("genomics-mlp") == 1
