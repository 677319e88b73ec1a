"""Read the IDs a scan looks for, exactly as the file holds them (no normalization here).

The scan derives every normalized variant itself, so this reader keeps the raw text: bytes
that are not UTF-8 survive as surrogate escapes and are searched as the original bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from psi.ids import iter_column
from vfl.errors import InputDataError

__all__ = ["ScanIds", "read_scan_ids"]

_BLOCK = 1 << 22


@dataclass(frozen=True)
class ScanIds:
    """IDs to scan for and, for each, its 1-based data row in the file (for the report).

    Attributes:
        source: the file name.
        column: the column read.
        ids: non-empty IDs in file order.
        rows: the data row of each ID (1 = the first row after the header).
    """

    source: str
    column: str
    ids: list[str]
    rows: list[int]


def read_scan_ids(path: Path, column: str | None = None) -> ScanIds:
    """Read one column of a CSV or Parquet file (the first column by default).

    Raises:
        InputDataError: missing file or column, or an unreadable file.
    """
    if not path.is_file():
        raise InputDataError(f"ID file not found: {path}")
    ids: list[str] = []
    rows: list[int] = []
    row = 0
    try:
        name = column or _first_column(path)
        for chunk in iter_column(path, name):
            for value in chunk.to_pylist():
                row += 1
                text = _text(value)
                if text:
                    ids.append(text)
                    rows.append(row)
    except (pa.ArrowInvalid, pa.ArrowKeyError, OSError, KeyError) as exc:
        raise InputDataError(f"cannot read column {column!r} of {path}: {_why(exc)}") from exc
    return ScanIds(source=path.name, column=name, ids=ids, rows=rows)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"}


def _first_column(path: Path) -> str:
    if _is_parquet(path):
        names = pq.ParquetFile(path).schema_arrow.names
    else:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=_BLOCK))
        names = reader.schema.names
    if not names:
        raise InputDataError(f"{path} has no columns")
    return str(names[0])


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    return str(value)


def _why(exc: BaseException) -> str:
    text = str(exc)
    if "include_columns" in text or "not exist" in text:
        return "no such column"
    return type(exc).__name__
