"""CSV/Parquet tables and the party's ID file: read, normalise IDs, map positions to rows.

Stage 1 writes `aligned.parquet` whose column ``row`` is, per aligned position, the row index
into the party's own ID file. Every loader therefore starts from that ID file: it takes the IDs
of the requested rows and finds them in its own source (a manifest, a table, VCF samples). IDs
are compared after the stage-1 normalisation (strip surrounding whitespace, Unicode NFC and,
when configured, case folding); they stay in memory and never reach a message or a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from psi.ids import normalize
from vfl.data._problems import Problems

__all__ = ["FLOAT32_MAX", "match_rows", "normalize_id", "read_table", "select_ids", "to_float32"]

_log = logging.getLogger(__name__)

_CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".gz"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


#: The largest finite float32: features and targets are float32, larger values cannot be held.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def to_float32(values: object) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Cast numbers to float32, flagging the finite ones beyond its range (about ±3.4e38).

    A plain cast turns them into inf with numpy's overflow RuntimeWarning, whether it fires
    depending on the input; flagged here, they are reported as out of range, always.
    """
    wide = np.asarray(values, dtype=np.float64)
    huge = np.isfinite(wide) & (np.abs(wide) > FLOAT32_MAX)
    with np.errstate(over="ignore"):
        return wide.astype(np.float32), huge


def normalize_id(raw: str, *, case_fold: bool = False) -> str:
    """Normalise an ID exactly as stage 1 does (`psi.ids.normalize`: strip, NFC, case fold)."""
    return normalize(raw, case_fold=case_fold)


def read_table(path: Path, problems: Problems, *, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV/TSV or Parquet table; problems are recorded, never raised.

    Args:
        path: the table; the format follows the suffix (``.parquet``/``.pq`` or CSV/TSV).
        problems: collector for an unreadable or missing file.
        text_columns: columns read as text (IDs, labels, paths), never parsed as numbers.

    Returns:
        The table, or an empty frame when it could not be read.
    """
    if not path.is_file():
        problems.add(path, "file not found")
        return pd.DataFrame()
    try:
        if path.suffix.lower() in _PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
            for col in text_columns:
                if col in frame.columns:
                    frame[col] = frame[col].map(lambda v: "" if pd.isna(v) else str(v))
            return frame
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        dtypes = dict.fromkeys(text_columns, str)
        frame = pd.read_csv(path, sep=sep, dtype=dtypes)
        for col in text_columns:
            if col in frame.columns:
                frame[col] = frame[col].fillna("")
        return frame
    except Exception as exc:  # pyarrow/pandas raise many types (KeyError on bad metadata, ...)
        problems.add(path, f"unreadable table ({type(exc).__name__})")
        return pd.DataFrame()


def select_ids(
    ids_file: Path,
    id_column: str,
    rows: Sequence[int] | None,
    problems: Problems,
    *,
    case_fold: bool = False,
) -> list[str | None]:
    """Return the normalised ID at each requested row of the ID file (None where invalid).

    Args:
        ids_file: the CSV/Parquet file the party aligned on.
        id_column: its ID column.
        rows: row indices into the ID file, one per aligned position; None selects every row.
        problems: collector for a missing column, out-of-range rows and empty IDs.
        case_fold: fold case, matching the party's `[align] case_fold`.
    """
    frame = read_table(ids_file, problems, text_columns=[id_column])
    if frame.empty and not problems:
        problems.add(ids_file, "the ID file has no rows")
        return []
    if id_column not in frame.columns:
        if not frame.empty:
            problems.add(ids_file, f"no column {id_column!r}")
        return [None] * (len(rows) if rows is not None else 0)
    raw = frame[id_column].tolist()
    wanted = list(range(len(raw))) if rows is None else [int(r) for r in rows]
    out: list[str | None] = []
    bad_rows: list[int] = []
    empty: list[int] = []
    for pos, row in enumerate(wanted):
        if not 0 <= row < len(raw):
            bad_rows.append(pos)
            out.append(None)
            continue
        norm = normalize_id(str(raw[row]), case_fold=case_fold)
        if not norm:
            empty.append(pos)
        out.append(norm or None)
    problems.add_at(ids_file, bad_rows, f"row index outside the file's {len(raw)} rows")
    problems.add_at(ids_file, empty, "empty ID")
    return out


def match_rows(
    source: Path | str,
    table_ids: Sequence[object],
    wanted: Sequence[str | None],
    problems: Problems,
    *,
    case_fold: bool = False,
    what: str = "patient",
) -> NDArray[np.int64]:
    """Find each wanted ID among a source's IDs.

    Args:
        source: the file the IDs come from, for messages.
        table_ids: the source's IDs in its own row order (normalised here).
        wanted: the normalised ID per aligned position (None: already reported).
        problems: collector for missing and duplicated patients.
        case_fold: fold case, matching stage 1.
        what: noun for messages (``"patient"``, ``"sample"``).

    Returns:
        Per position, the source's row index, or -1 where it is missing.
    """
    index: dict[str, int] = {}
    dup: set[str] = set()
    for i, value in enumerate(table_ids):
        norm = normalize_id("" if value is None else str(value), case_fold=case_fold)
        if norm in index:
            dup.add(norm)
        index.setdefault(norm, i)
    out = np.full(len(wanted), -1, dtype=np.int64)
    missing: list[int] = []
    duplicated: list[int] = []
    for pos, key in enumerate(wanted):
        if key is None:
            continue
        if key not in index:
            missing.append(pos)
            continue
        if key in dup:
            duplicated.append(pos)
        out[pos] = index[key]
    problems.add_at(source, missing, f"{what} missing")
    problems.add_at(source, duplicated, f"{what} listed more than once")
    _log.debug("matched %d of %d positions in a source", len(wanted) - len(missing), len(wanted))
    return out
