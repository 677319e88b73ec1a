from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

import vfl.data
from vfl.data import load_data_config, parse_data_config, read_aligned_rows
from vfl.errors import ConfigError, InputDataError

GOOD = """
[data.image]
format = "dicom"
path = "imaging/manifest.csv"
shape = [64, 64]
normalize = "window"
window = [40, 400]

[data.labels]
path = "/abs/response.csv"
column = "response"
"""


def test_exports_are_pinned() -> None:
    assert sorted(vfl.data.__all__) == [
        "ColumnScaling",
        "DataConfig",
        "GenomicsMatrix",
        "GenomicsSpec",
        "ImageScaling",
        "ImageSpec",
        "LabelSpec",
        "Labels",
        "PartyData",
        "Preprocessor",
        "Projection",
        "TableData",
        "TableSpec",
        "fit_preprocessor",
        "load_data_config",
        "load_party_data",
        "parse_data_config",
        "read_aligned_rows",
    ]
    for name in vfl.data.__all__:
        assert hasattr(vfl.data, name)


def test_valid_section_resolves_paths_and_defaults(tmp_path: Path) -> None:
    section = tomllib.loads(GOOD)["data"]
    cfg = load_data_config(
        section, base_dir=tmp_path, ids_file=tmp_path / "ids.csv", id_column="pid"
    )
    assert cfg.ids_file == tmp_path / "ids.csv" and cfg.id_column == "pid"
    assert cfg.image is not None and cfg.labels is not None
    assert cfg.image.path == tmp_path / "imaging/manifest.csv"
    assert cfg.image.shape == (64, 64) and cfg.image.resize == "crop"
    assert cfg.image.window == (40.0, 400.0)
    assert cfg.labels.path == Path("/abs/response.csv")
    assert cfg.labels.classes == ("0", "1")


def test_every_problem_is_collected(tmp_path: Path) -> None:
    section = tomllib.loads(
        """
        [data]
        colour = "blue"
        [data.image]
        format = "png"
        normalize = "window"
        shape = [0, 64]
        [data.genomics]
        path = "x.vcf"
        min_maf = 0.7
        pca = -1
        [data.labels]
        path = "y.csv"
        task = "binary"
        classes = [0, 1, 2]
        """
    )["data"]
    cfg, problems = parse_data_config(section, base_dir=tmp_path)
    assert cfg is None
    text = "\n".join(problems)
    for expected in [
        "[data] colour: unknown key",
        "[data] ids_file: is required",
        "[data.image] format: must be one of",
        "[data.image] path: is required",
        "[data.image] shape: must be a list of 2 or 3 positive integers",
        "[data.image] window: is required",
        "[data.genomics] min_maf: must be a number in [0.0, 0.5]",
        "[data.genomics] pca: must be an integer in [0, 10000]",
        "[data.labels] classes: a binary task needs exactly 2 classes",
        "[data.labels] column: is required",
    ]:
        assert expected in text
    with pytest.raises(ConfigError) as info:
        load_data_config(section, base_dir=tmp_path)
    assert len(info.value.problems) == len(problems)


def test_an_empty_section_asks_for_a_source(tmp_path: Path) -> None:
    _, problems = parse_data_config({}, base_dir=tmp_path, ids_file=tmp_path, id_column="id")
    assert problems == ["[data] image|genomics|table|labels: at least one data source is required"]


def test_read_aligned_rows(tmp_path: Path) -> None:
    pd.DataFrame({"row": [4, 0, 2]}).to_parquet(tmp_path / "aligned.parquet")
    assert read_aligned_rows(tmp_path / "aligned.parquet").tolist() == [4, 0, 2]
    pd.DataFrame({"row": ["a"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputDataError, match="must hold integers"):
        read_aligned_rows(tmp_path / "bad.parquet")
    with pytest.raises(InputDataError, match="cannot read column 'row'"):
        read_aligned_rows(tmp_path / "missing.parquet")
