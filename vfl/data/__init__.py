"""Each party's own inputs: loaders, locally fitted preprocessing and a synthetic cohort.

Stage 1 leaves each party an `aligned.parquet` whose column ``row`` indexes the party's own
ID file; every loader here is keyed by that same file. Typical use at a site::

    config = load_data_config(toml["data"], base_dir=cfg_dir, ids_file=..., id_column=...)
    data = load_party_data(config, read_aligned_rows(workdir / "aligned.parquet"))
    prep = fit_preprocessor(config, data, train_positions)   # this site's training rows only
    prep.save(workdir / "preprocessor.json")
    data = prep.transform(data)

Loading validates everything first and raises one `InputDataError` listing every problem
(file, column, aligned position; never an ID). `vfl.data.synth` writes a realistic cohort.
"""

from vfl.data._clinical import Labels, TableData
from vfl.data._config import (
    DataConfig,
    GenomicsSpec,
    ImageSpec,
    LabelSpec,
    TableSpec,
    load_data_config,
    parse_data_config,
)
from vfl.data._genomics import GenomicsMatrix
from vfl.data._loader import PartyData, load_party_data, read_aligned_rows
from vfl.data._preprocess import ColumnScaling, ImageScaling, Preprocessor, fit_preprocessor
from vfl.data._projection import Projection

__all__ = [
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
