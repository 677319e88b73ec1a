"""Hostile ID files: `read_ids` and `iter_column` give valid IDs or a `VflError` naming the file.

Targets: CSV and Parquet ID files with one corruption each (bytes flipped, cut, inserted,
zeroed, random), CSV cells of any bytes (non-UTF-8, NUL, quotes, separators, whitespace,
fields up to 64 KiB) checked against a plain-Python model of the normalization, and Parquet
ID columns of every Arrow type (text, binary, integers, floats with NaN/inf, booleans, dates,
dictionaries, lists, structs, nulls).

Case counts are `EXAMPLES[target] * VFL_FUZZ_SCALE` at most; each target counts the cases it
ran and, when `VFL_FUZZ_COUNTS` names a file, appends them there (docs/SECURITY.md).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fuzzing import FuzzBudget, corrupted
from hypothesis import given
from hypothesis import strategies as st

from psi.errors import VflError
from psi.ids import IdSet, iter_column, read_ids

EXAMPLES = {
    "ids_csv_bytes": 200,
    "ids_parquet_bytes": 200,
    "ids_csv_cells": 200,
    "ids_parquet_types": 150,
}
FUZZ = FuzzBudget(__name__, EXAMPLES)
COUNTS = FUZZ.counts
IDS = ["MRN-001", " MRN-002 ", "Jose\u0301", "00123", "mrn-001"]


def _valid(ids: IdSet) -> None:
    """What every caller of `read_ids` relies on."""
    assert len(ids.ids) == len(ids.rows) <= ids.total_rows
    assert len(set(ids.ids)) == len(ids.ids)
    rows = ids.rows.tolist()
    assert rows == sorted(set(rows)) and all(0 <= r < ids.total_rows for r in rows)
    for raw in ids.ids:
        text = raw.decode("utf-8")
        assert text and text == unicodedata.normalize("NFC", text.strip())


def _read(target: str, path: Path, column: str = "pid", **kw: Any) -> IdSet | None:
    """The property: valid IDs, or a VflError whose message names the file."""
    COUNTS[target] += 1
    try:
        for chunk in iter_column(path, column):
            assert isinstance(chunk, pa.Array)
    except VflError as exc:
        assert str(path) in str(exc), str(exc)
    try:
        ids = read_ids(path, column, **kw)
    except VflError as exc:
        assert str(path) in str(exc), str(exc)
        return None
    _valid(ids)
    return ids


POLICY = st.fixed_dictionaries(
    {"on_invalid": st.sampled_from(["error", "drop"]), "case_fold": st.booleans()}
)


def _run_bytes(target: str, path: Path) -> None:
    original = path.read_bytes()

    @FUZZ.settings(target)
    @given(corrupted(original), POLICY)
    def one(data: bytes, policy: dict[str, Any]) -> None:
        path.write_bytes(data)
        _read(target, path, **policy)

    one()
    FUZZ.record(target)


def test_csv_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("pid,age\n" + "".join(f'"{i}",{k}\n' for k, i in enumerate(IDS)))
    assert len(read_ids(path, "pid", on_invalid="drop").ids) == 5
    _run_bytes("ids_csv_bytes", path)


def test_parquet_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"pid": IDS, "age": list(range(5))}), path)
    assert len(read_ids(path, "pid").ids) == 5
    _run_bytes("ids_parquet_bytes", path)


# ---- CSV cells against a model ------------------------------------------------------------

CELL = st.one_of(
    st.binary(max_size=12),
    st.text(max_size=8).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b" ", b"\0", b"A\0B", b"\xff\xfe", b'"', b",", b"\t", b"\xc3", b"\r"]),
    st.sampled_from([b"X" * 65536, "\u00e9".encode() * 20000]),
)


def _model(cells: list[bytes], case_fold: bool) -> list[bytes]:
    """The IDs `read_ids(..., on_invalid="drop")` must return, computed the plain way."""
    norm: list[bytes | None] = []
    for raw in cells:
        try:
            text = unicodedata.normalize("NFC", raw.decode("utf-8").strip())
        except UnicodeDecodeError:
            text = ""
        norm.append((text.casefold() if case_fold else text).encode() or None)
    seen = Counter(n for n in norm if n is not None)
    return [n for n in norm if n is not None and seen[n] == 1]


def test_csv_cells_match_the_model(tmp_path: Path) -> None:
    """Every cell quoted (so no line is blank and separators are data); cells with a line
    break are left out: pyarrow reads rows by line unless told otherwise."""
    path = tmp_path / "ids.csv"

    @FUZZ.settings("ids_csv_cells")
    @given(st.lists(CELL.filter(lambda c: b"\n" not in c and b"\r" not in c), max_size=12),
           st.booleans())  # fmt: skip
    def one(cells: list[bytes], case_fold: bool) -> None:
        body = b"".join(b'"' + c.replace(b'"', b'""') + b'",1\n' for c in cells)
        path.write_bytes(b"pid,n\n" + body)
        got = _read("ids_csv_cells", path, case_fold=case_fold, on_invalid="drop")
        assert got is not None and got.ids == _model(cells, case_fold)
        assert got.total_rows == len(cells)

    one()
    FUZZ.record("ids_csv_cells")


# ---- Parquet columns of any type ----------------------------------------------------------

COLUMNS: list[tuple[pa.DataType, st.SearchStrategy[Any]]] = [
    (pa.string(), st.text(max_size=6)),
    (pa.large_string(), st.text(max_size=6)),
    (pa.binary(), st.binary(max_size=6)),
    (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    (pa.uint8(), st.integers(0, 255)),
    (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    (pa.bool_(), st.booleans()),
    (pa.date32(), st.dates()),
    (pa.list_(pa.int32()), st.lists(st.integers(-5, 5), max_size=3)),
    (pa.struct([("a", pa.string())]), st.fixed_dictionaries({"a": st.text(max_size=3)})),
    (pa.null(), st.none()),
]


ID_TYPES = {pa.string(), pa.large_string(), pa.binary(), pa.int64(), pa.uint8(), pa.null()}


def test_parquet_columns_of_any_type(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"

    @FUZZ.settings("ids_parquet_types")
    @given(st.data(), POLICY, st.booleans())
    def one(data: st.DataObject, policy: dict[str, Any], dictionary: bool) -> None:
        kind, values = data.draw(st.sampled_from(COLUMNS))
        cells = data.draw(st.lists(st.none() | values, max_size=8))
        column = pa.array(cells, type=kind)
        if dictionary and pa.types.is_string(kind):
            column = column.dictionary_encode()
        pq.write_table(pa.table({"pid": column}), path)
        got = _read("ids_parquet_types", path, **policy)
        if got is not None:
            assert kind in ID_TYPES, kind

    one()
    FUZZ.record("ids_parquet_types")


# ---- deterministic edge cases -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"pid\n", b"\xef\xbb\xbf", b"\0\0\0\0", b"age\n1\n", b"pid,pid\n1,2\n"],
)
def test_empty_headerless_or_ambiguous_csv(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "ids.csv"
    path.write_bytes(body)
    _read("edge", path)


def test_parquet_text_that_is_not_utf8_is_counted_not_raised(tmp_path: Path) -> None:
    """Found by the fuzzer: pyarrow raised UnicodeDecodeError converting such a column."""
    path = tmp_path / "ids.parquet"
    column = pa.array([b"A1", b"\xff\xfe", b"B2"], type=pa.binary()).view(pa.string())
    pq.write_table(pa.table({"pid": column}), path)
    with pytest.raises(VflError, match=f"{path}, column 'pid': 1 non-utf8 ID"):
        read_ids(path, "pid")
    ids = read_ids(path, "pid", on_invalid="drop")
    assert ids.ids == [b"A1", b"B2"] and ids.rows.tolist() == [0, 2]


def test_parquet_column_name_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    """Found by the fuzzer: a flipped byte in the schema raised UnicodeDecodeError."""
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"pid": ["A1"], "pXd": ["x"]}), path)
    path.write_bytes(path.read_bytes().replace(b"pXd", b"p\xf0d"))
    with pytest.raises(VflError, match="not UTF-8") as info:
        read_ids(path, "pid")
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "column",
    [
        pa.array([1.0, 2.0, None]),
        pa.array([True, False]),
        pa.array([[1], [2]]),
        pa.array([{"a": "x"}]),
    ],
)
def test_parquet_ids_must_be_text_or_integers(tmp_path: Path, column: pa.Array) -> None:
    """A float column (integer IDs with a gap, as pandas writes them) would give "123.0",
    which never matches the other party's "123"; nested values would become "[1]"."""
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"pid": column}), path)
    with pytest.raises(VflError, match=f"{path}, column 'pid': IDs must be text or integers"):
        read_ids(path, "pid")
