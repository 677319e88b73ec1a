"""Read one party's ID column and normalize it.

The column is streamed in record batches with pyarrow (CSV or Parquet), never loaded through
pandas. Normalization: strip surrounding whitespace, Unicode NFC, optional case fold. Problems
(null, empty, non-UTF-8, duplicate) are counted and reported with the file and column only: no
message ever contains an ID. Rows are numbered as pyarrow and pandas number them: blank lines
in a CSV are not rows.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from psi.errors import InputDataError

__all__ = ["IdSet", "iter_column", "normalize", "read_ids"]

logger = logging.getLogger(__name__)

_BLOCK = 1 << 22  # CSV read block (4 MiB): bounds memory per batch.
_ID_KINDS = "string large_string string_view binary large_binary binary_view fixed_size_binary"
_ID_TYPES = tuple(  # the *_view types need pyarrow 16
    getattr(pa.types, f"is_{k}") for k in [*_ID_KINDS.split(), "integer", "null"]
    if hasattr(pa.types, f"is_{k}")
)  # fmt: skip


@dataclass(frozen=True)
class IdSet:
    """A party's valid, normalized IDs with their row index in the party's own file.

    Attributes:
        ids: normalized IDs as UTF-8 bytes, in file order (invalid rows removed).
        rows: for each entry of `ids`, its 0-based row index in the file.
        total_rows: rows read from the file, valid or not.
        dropped: counts of rows dropped per reason (only under `on_invalid="drop"`).
    """

    ids: list[bytes]
    rows: npt.NDArray[np.int64]
    total_rows: int
    dropped: dict[str, int] = field(default_factory=dict)


def normalize(value: str, *, case_fold: bool) -> str:
    """Return the canonical form of one ID: stripped, NFC, optionally case-folded."""
    text = unicodedata.normalize("NFC", value.strip())
    return text.casefold() if case_fold else text


def _is_id_type(kind: pa.DataType) -> bool:
    """Text, bytes or integers: the types whose cells have one obvious text form.

    Floats are refused (an integer ID with a missing value becomes ``123.0`` in pandas, which
    would silently never match the other party's ``123``), and so are booleans, dates and
    nested types.
    """
    if pa.types.is_dictionary(kind):
        return _is_id_type(kind.value_type)
    return any(check(kind) for check in _ID_TYPES)


def _as_bytes(chunk: pa.Array) -> pa.Array:
    """Text cells as raw bytes, as the CSV reader gives them.

    A Parquet file can hold strings that are not UTF-8: decoding them is the caller's job
    (counted as invalid, never an exception).
    """
    if pa.types.is_dictionary(chunk.type):
        chunk = chunk.dictionary_decode()
    if pa.types.is_string(chunk.type) or str(chunk.type) == "string_view":
        return chunk.cast(pa.binary())
    if pa.types.is_large_string(chunk.type):
        return chunk.cast(pa.large_binary())
    return chunk


def _parquet_chunks(path: Path, column: str) -> Iterator[pa.Array]:
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if column not in names:
        raise InputDataError(f"column {column!r} not found in {path}")
    if names.count(column) > 1:
        raise InputDataError(f"{path} has {names.count(column)} columns named {column!r}")
    kind = pf.schema_arrow.field(column).type
    if not _is_id_type(kind):
        raise InputDataError(
            f"{path}, column {column!r}: IDs must be text or integers, not {kind} "
            "(store them as strings)"
        )
    for batch in pf.iter_batches(columns=[column], batch_size=65536):
        yield _as_bytes(batch.column(0))


def iter_column(path: Path, column: str) -> Iterator[pa.Array]:
    """Yield one column of a CSV or Parquet file in chunks (text cells as raw bytes).

    Raises:
        InputDataError: missing file or column, a Parquet column that is not text or
            integers, or an unreadable file.
    """
    if not path.is_file():
        raise InputDataError(f"ID file not found: {path}")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            yield from _parquet_chunks(path, column)
            return
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_BLOCK),
            convert_options=pacsv.ConvertOptions(
                include_columns=[column], column_types={column: pa.binary()}
            ),
        )
        for batch in reader:
            yield batch.column(0)
    except UnicodeDecodeError as exc:  # pyarrow decodes Parquet column names as UTF-8
        raise InputDataError(
            f"cannot read {path}: its schema holds text that is not UTF-8"
        ) from exc
    except (pa.ArrowException, OSError) as exc:  # any corruption pyarrow detects
        if "include_columns" in str(exc) or "not exist" in str(exc):
            raise InputDataError(f"column {column!r} not found in {path}") from exc
        raise InputDataError(f"cannot read {path}: {type(exc).__name__}") from exc


def _decode(value: object) -> str | None:
    """Decode one cell to text; None when it is not valid UTF-8."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value)


def _scan(path: Path, column: str, case_fold: bool) -> tuple[list[bytes | None], Counter[str]]:
    """Read and normalize every cell; None marks an invalid cell (reason counted)."""
    out: list[bytes | None] = []
    bad: Counter[str] = Counter()
    for chunk in iter_column(path, column):
        for value in chunk.to_pylist():
            if value is None:
                bad["null"] += 1
                out.append(None)
                continue
            text = _decode(value)
            if text is None:
                bad["non_utf8"] += 1
                out.append(None)
                continue
            norm = normalize(text, case_fold=case_fold)
            if not norm:
                bad["empty"] += 1
                out.append(None)
                continue
            out.append(norm.encode("utf-8"))
    return out, bad


def _duplicates(cells: list[bytes | None]) -> set[bytes]:
    seen: set[bytes] = set()
    dup: set[bytes] = set()
    for cell in cells:
        if cell is not None:
            if cell in seen:
                dup.add(cell)
            seen.add(cell)
    return dup


def read_ids(
    path: Path, column: str, *, case_fold: bool = False, on_invalid: str = "error"
) -> IdSet:
    """Read, normalize and validate the ID column of a CSV or Parquet file.

    Args:
        path: the party's ID file (`.csv` or `.parquet`).
        column: name of the ID column.
        case_fold: fold case after NFC (only if IDs are case-insensitive at every party).
        on_invalid: "error" to refuse a file with null, empty, non-UTF-8 or duplicate IDs, or
            "drop" to drop those rows (every row of a duplicated ID: which row is meant is
            ambiguous) and report the counts.

    Raises:
        InputDataError: missing file or column, or invalid IDs under "error". Messages give
            counts, file and column, never an ID.
    """
    cells, bad = _scan(path, column, case_fold)
    dup = _duplicates(cells)
    if dup:
        bad["duplicate"] = sum(1 for c in cells if c is not None and c in dup)
    if bad and on_invalid != "drop":
        what = ", ".join(f"{n} {k.replace('_', '-')}" for k, n in sorted(bad.items()))
        raise InputDataError(
            f"{path}, column {column!r}: {what} ID value(s) among {len(cells)} rows "
            '(fix the file, or set [align] on_invalid = "drop")'
        )
    keep = [i for i, c in enumerate(cells) if c is not None and c not in dup]
    ids = [cells[i] for i in keep]
    logger.info("read %d IDs (%d rows, dropped %s)", len(keep), len(cells), dict(bad))
    return IdSet(
        ids=ids,  # type: ignore[arg-type]  # None filtered above
        rows=np.asarray(keep, dtype=np.int64),
        total_rows=len(cells),
        dropped=dict(bad),
    )
