"""Reading and normalizing a party's ID column."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from psi.errors import InputDataError
from psi.ids import normalize, read_ids


def csv(tmp_path: Path, body: bytes, name: str = "ids.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(body)
    return path


def test_csv_ids_are_normalized_and_keep_their_row_index(tmp_path: Path) -> None:
    path = csv(tmp_path, "pid,age\n  A1 ,3\nB2,4\nCafe\u0301,5\n".encode())
    ids = read_ids(path, "pid")
    assert ids.ids == [b"A1", b"B2", "Caf\u00e9".encode()]
    assert ids.rows.tolist() == [0, 1, 2]
    assert ids.total_rows == 3


def test_leading_zeros_survive_csv_type_inference(tmp_path: Path) -> None:
    ids = read_ids(csv(tmp_path, b"pid\n00123\n123\n"), "pid")
    assert ids.ids == [b"00123", b"123"]


def test_unicode_variants_are_one_id_after_nfc(tmp_path: Path) -> None:
    path = csv(tmp_path, "pid\nJos\u00e9\nJose\u0301\n".encode())
    with pytest.raises(InputDataError, match="1 duplicate|2 duplicate"):
        read_ids(path, "pid")


def test_case_fold_is_optional() -> None:
    assert normalize(" STRASSE ", case_fold=False) == "STRASSE"
    assert normalize("Stra\u00dfe", case_fold=True) == normalize("STRASSE", case_fold=True)


def test_problems_are_counted_and_never_show_an_id(tmp_path: Path) -> None:
    body = b"pid\nSECRET1\nSECRET1\n   \n\xff\xfe\nSECRET2\n"
    path = csv(tmp_path, body)
    with pytest.raises(InputDataError) as err:
        read_ids(path, "pid")
    msg = str(err.value)
    assert "2 duplicate" in msg and "1 empty" in msg and "1 non-utf8" in msg
    assert str(path) in msg and "'pid'" in msg
    assert "SECRET" not in msg


def test_drop_policy_drops_every_row_of_a_duplicate_and_reports_counts(tmp_path: Path) -> None:
    path = csv(tmp_path, b"pid,x\nA,1\nB,2\nA,3\n,4\n\nC,5\n")  # blank lines are not rows
    ids = read_ids(path, "pid", on_invalid="drop")
    assert ids.ids == [b"B", b"C"]
    assert ids.rows.tolist() == [1, 4]
    assert ids.dropped == {"duplicate": 2, "empty": 1}


def test_parquet_with_nulls_and_integer_ids(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"pid": pa.array([7, None, 9], pa.int64()), "x": [1, 2, 3]}), path)
    with pytest.raises(InputDataError, match="1 null"):
        read_ids(path, "pid")
    ids = read_ids(path, "pid", on_invalid="drop")
    assert ids.ids == [b"7", b"9"] and ids.rows.tolist() == [0, 2]


def test_missing_file_and_missing_column_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="not found"):
        read_ids(tmp_path / "nope.csv", "pid")
    path = csv(tmp_path, b"other\n1\n")
    with pytest.raises(InputDataError, match="column 'pid' not found"):
        read_ids(path, "pid")
    pq.write_table(pa.table({"other": [1]}), tmp_path / "p.parquet")
    with pytest.raises(InputDataError, match="column 'pid' not found"):
        read_ids(tmp_path / "p.parquet", "pid")


def test_large_csv_is_read_in_chunks(tmp_path: Path) -> None:
    n = 300_000  # > one 4 MiB read block
    path = csv(tmp_path, ("pid\n" + "\n".join(f"ID{i:09d}" for i in range(n)) + "\n").encode())
    ids = read_ids(path, "pid")
    assert len(ids.ids) == n and ids.ids[-1] == f"ID{n - 1:09d}".encode()
