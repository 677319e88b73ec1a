"""Clinical tables and labels from CSV/Parquet, joined to the aligned positions by ID."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from vfl.data._config import LabelSpec, TableSpec
from vfl.data._problems import Problems
from vfl.data._tables import FLOAT32_MAX, match_rows, read_table, to_float32

__all__ = ["Labels", "TableData", "load_labels", "load_table"]


_OUT_OF_RANGE = "value beyond the float32 range (±3.4e38)"


@dataclass(frozen=True)
class TableData:
    """Numeric features per aligned position.

    Attributes:
        values: float32 ``(n, k)``.
        columns: the k column names, in order.
    """

    values: NDArray[np.float32]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Labels:
    """Outcome per aligned position.

    Attributes:
        values: int64 class indices (binary: 0 = ``classes[0]``, 1 = ``classes[1]``) or
            float32 targets for regression.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        classes: the class names in index order (empty for regression).
    """

    values: NDArray[np.int64] | NDArray[np.float32]
    task: str
    classes: tuple[str, ...]


def _same_class(cell: str, name: str) -> bool:
    if cell == name:
        return True
    try:
        return math.isclose(float(cell), float(name))
    except ValueError:
        return False


def load_table(
    spec: TableSpec,
    *,
    id_column: str,
    ids: Sequence[str | None],
    problems: Problems,
    case_fold: bool = False,
    reserved: Sequence[str] = (),
) -> TableData:
    """Load numeric feature columns per aligned position.

    Args:
        spec: the `[data.table]` section; without ``columns`` every numeric column except
            the ID, ``exclude`` and `reserved` ones is used.
        id_column: the table's ID column (``spec.id_column`` overrides it).
        ids: the normalised ID per position (None: already reported).
        problems: collector; nothing is raised here.
        case_fold: fold case when matching, as stage 1 did.
        reserved: columns never used as features (the label column).
    """
    id_col = spec.id_column or id_column
    frame = read_table(spec.path, problems, text_columns=[id_col])
    empty = TableData(np.zeros((len(ids), 0), np.float32), ())
    if frame.empty:
        return empty
    skip = {id_col, *spec.exclude, *reserved}
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    columns = list(spec.columns) if spec.columns else [c for c in numeric if c not in skip]
    for col in [id_col, *columns]:
        if col not in frame.columns:
            problems.add(spec.path, f"no column {col!r}")
    text = [c for c in columns if c in frame.columns and c not in numeric]
    if text:
        problems.add(spec.path, f"non-numeric columns (encode them first): {', '.join(text)}")
    if not columns:
        problems.add(spec.path, "no numeric feature columns")
    if id_col not in frame.columns or any(c not in numeric for c in columns) or not columns:
        return empty
    rows = match_rows(spec.path, frame[id_col].tolist(), ids, problems, case_fold=case_fold)
    values, huge = to_float32(frame[columns].to_numpy(dtype=np.float64)[np.maximum(rows, 0)])
    for j, col in enumerate(columns):
        bad = np.flatnonzero((rows >= 0) & ~np.isfinite(values[:, j]) & ~huge[:, j])
        problems.add_at(spec.path, bad.tolist(), f"column {col!r}: missing, NaN or infinite value")
        big = np.flatnonzero((rows >= 0) & huge[:, j])
        problems.add_at(spec.path, big.tolist(), f"column {col!r}: {_OUT_OF_RANGE}")
    return TableData(values, tuple(columns))


def load_labels(
    spec: LabelSpec,
    *,
    id_column: str,
    ids: Sequence[str | None],
    problems: Problems,
    case_fold: bool = False,
) -> Labels:
    """Load the outcome per aligned position, checking every value against the task.

    Binary and multiclass labels must be one of ``classes`` (compared as text, or as numbers
    so that ``1.0`` matches ``1``); multiclass without ``classes`` takes the sorted distinct
    values of the requested rows. Regression targets must be finite numbers.
    """
    id_col = spec.id_column or id_column
    frame = read_table(spec.path, problems, text_columns=[id_col, spec.column])
    classes = spec.classes or ()
    empty = Labels(np.zeros(len(ids), np.int64), spec.task, classes)
    if frame.empty:
        return empty
    for col in (id_col, spec.column):
        if col not in frame.columns:
            problems.add(spec.path, f"no column {col!r}")
    if id_col not in frame.columns or spec.column not in frame.columns:
        return empty
    rows = match_rows(spec.path, frame[id_col].tolist(), ids, problems, case_fold=case_fold)
    cells = [str(frame[spec.column].iat[r]).strip() if r >= 0 else "" for r in rows]
    present = [p for p, r in enumerate(rows) if r >= 0]
    blank = [p for p in present if not cells[p]]
    problems.add_at(spec.path, blank, f"column {spec.column!r}: missing label")
    if spec.task == "regression":
        return _regression(spec, cells, present, blank, problems)
    if not classes:
        classes = tuple(sorted({cells[p] for p in present if cells[p]}))
    values = np.zeros(len(rows), dtype=np.int64)
    unexpected: list[int] = []
    for p in present:
        match = [k for k, name in enumerate(classes) if cells[p] and _same_class(cells[p], name)]
        if match:
            values[p] = match[0]
        elif cells[p]:
            unexpected.append(p)
    allowed = ", ".join(classes)
    message = f"column {spec.column!r}: label outside the expected classes ({allowed})"
    problems.add_at(spec.path, unexpected, message)
    return Labels(values, spec.task, classes)


def _regression(
    spec: LabelSpec, cells: list[str], present: list[int], blank: list[int], problems: Problems
) -> Labels:
    values = np.zeros(len(cells), dtype=np.float32)
    bad: list[int] = []
    skip = set(blank)
    for p in present:
        if p in skip:
            continue
        try:
            value = float(cells[p])
        except ValueError:
            bad.append(p)
            continue
        if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            bad.append(p)
            continue
        values[p] = value
    problems.add_at(spec.path, bad, f"column {spec.column!r}: not a finite number within ±3.4e38")
    return Labels(values, "regression", ())
