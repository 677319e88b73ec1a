"""Load everything a party feeds into stage 2, validated up front.

`load_party_data` reads every configured source for the requested ID-file rows (stage 1's
`aligned.parquet` column ``row``, one per aligned position) and raises one `InputDataError`
listing every problem it found, before any protocol step runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from vfl.data._clinical import Labels, TableData, load_labels, load_table
from vfl.data._config import DataConfig, GenomicsSpec
from vfl.data._genomics import GenomicsMatrix, load_genomics
from vfl.data._images import load_images
from vfl.data._problems import Problems
from vfl.data._tables import select_ids
from vfl.errors import InputDataError

__all__ = ["PartyData", "load_party_data", "read_aligned_rows"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartyData:
    """One party's inputs in aligned order (position i = the i-th requested row).

    Attributes:
        rows: the ID-file row per position.
        image: float32 ``(n, 1, *shape)``, raw intensities (HU for CT); after a
            preprocessor fitted with ``pca = k``, ``(n, k)`` component scores.
        genomics: dosage or expression matrix (``pc1..pck`` columns after ``pca = k``).
        table: numeric clinical features.
        labels: outcomes (label party only).
    """

    rows: NDArray[np.int64]
    image: NDArray[np.float32] | None = None
    genomics: GenomicsMatrix | None = None
    table: TableData | None = None
    labels: Labels | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def read_aligned_rows(path: Path) -> NDArray[np.int64]:
    """Read stage 1's ``aligned.parquet``: the ID-file row index per aligned position.

    Raises:
        InputDataError: the file is missing, unreadable or has no integer ``row`` column.
    """
    try:
        frame = pd.read_parquet(path, columns=["row"])
    except (OSError, ValueError, KeyError) as exc:
        raise InputDataError(f"{path}: cannot read column 'row' ({type(exc).__name__})") from exc
    if not pd.api.types.is_integer_dtype(frame["row"]):
        raise InputDataError(f"{path}: column 'row' must hold integers")
    return np.asarray(frame["row"].to_numpy(), dtype=np.int64)


def _genomics(
    config: DataConfig,
    spec: GenomicsSpec,
    rows: Sequence[int] | None,
    ids: list[str | None],
    problems: Problems,
) -> GenomicsMatrix:
    keys = ids
    if spec.format == "vcf" and spec.sample_column:
        keys = select_ids(config.ids_file, spec.sample_column, rows, problems)
    return load_genomics(
        spec, id_column=config.id_column, keys=keys, problems=problems, case_fold=config.case_fold
    )


def load_party_data(config: DataConfig, rows: Sequence[int] | None = None) -> PartyData:
    """Load and validate every source in `config` for the given ID-file rows.

    Args:
        config: the parsed `[data]` section.
        rows: ID-file row per aligned position; None loads every row of the ID file.

    Returns:
        The party's arrays in aligned order, not yet normalised (see `fit_preprocessor`).

    Raises:
        InputDataError: listing every problem found (files, columns, positions; never IDs).
    """
    problems = Problems()
    ids = select_ids(config.ids_file, config.id_column, rows, problems, case_fold=config.case_fold)
    row_index = np.asarray(range(len(ids)) if rows is None else rows, dtype=np.int64)
    problems.raise_if_any("the ID file")
    image = genomics = table = labels = None
    if config.image is not None:
        image = load_images(
            config.image,
            id_column=config.id_column,
            ids=ids,
            rows=row_index.tolist(),
            problems=problems,
            case_fold=config.case_fold,
        )
    if config.genomics is not None:
        genomics = _genomics(config, config.genomics, rows, ids, problems)
    if config.labels is not None:
        labels = load_labels(
            config.labels,
            id_column=config.id_column,
            ids=ids,
            problems=problems,
            case_fold=config.case_fold,
        )
    if config.table is not None:
        table = load_table(
            config.table,
            id_column=config.id_column,
            ids=ids,
            problems=problems,
            case_fold=config.case_fold,
            reserved=[config.labels.column] if config.labels is not None else [],
        )
    problems.raise_if_any("party data")
    _log.info("loaded party data for %d positions", len(ids))
    return PartyData(row_index, image, genomics, table, labels)
