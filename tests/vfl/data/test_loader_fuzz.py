"""Hostile input files: every data loader returns valid data or one `InputDataError` naming
the file, never a raw pydicom, nibabel, numpy, pandas, pyarrow or cyvcf2 exception.

Each target starts from small valid files written here with the project's own libraries and
mutates one of them per case: byte flips, truncations, inserted or random bytes, NaN/inf,
wrong shapes and dtypes, non-UTF-8 IDs. Case counts are `EXAMPLES[target] * VFL_FUZZ_SCALE`
at most; each target counts what it ran and appends it to `$VFL_FUZZ_COUNTS` if set.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nibabel
import numpy as np
import pandas as pd
from data_helpers import dicom_slice, ids_csv, vcf
from fuzzing import FuzzBudget, corrupted
from hypothesis import given
from hypothesis import strategies as st

from vfl.data import (
    DataConfig,
    GenomicsSpec,
    ImageSpec,
    LabelSpec,
    TableSpec,
    load_party_data,
)
from vfl.errors import VflError

EXAMPLES = {
    "dicom_bytes": 150,
    "nifti_bytes": 150,
    "npy_bytes": 150,
    "npy_arrays": 150,
    "vcf_bytes": 150,
    "vcf_lines": 150,
    "table_csv_bytes": 150,
    "table_parquet_bytes": 150,
    "table_values": 150,
    "labels_values": 150,
}
FUZZ = FuzzBudget(__name__, EXAMPLES)
COUNTS = FUZZ.counts
IDS = ["MRN-01", "MRN-02", "MRN-03", "MRN-04"]


def _check(target: str, cfg: DataConfig, *named: Path) -> None:
    """The property: valid data, or a VflError whose message names the damaged file (or the
    manifest listing it, by position: image paths may hold IDs, so they are never shown)."""
    COUNTS[target] += 1
    try:
        data = load_party_data(cfg)
    except VflError as exc:
        assert any(str(p) in str(exc) for p in named), str(exc)
        return
    if data.image is not None:  # missing genotypes and table cells are NaN by design
        assert np.isfinite(data.image).all()


def _run_bytes(target: str, victim: Path, cfg: DataConfig, *named: Path) -> None:
    original = victim.read_bytes()

    @FUZZ.settings(target)
    @given(corrupted(original))
    def one(data: bytes) -> None:
        victim.write_bytes(data)
        _check(target, cfg, victim, *named)

    one()
    FUZZ.record(target)


# ---- images -----------------------------------------------------------------------------


def test_dicom_bytes(tmp_path: Path) -> None:
    for k in range(4):
        dicom_slice(tmp_path / f"dcm/ACC{k}.dcm", np.full((6, 6), 10 * k, dtype=np.int16))
    manifest = ids_csv(tmp_path / "manifest.csv", IDS, path=[f"dcm/ACC{k}.dcm" for k in range(4)])
    cfg = DataConfig(manifest, "patient_id", image=ImageSpec("dicom", manifest, shape=(6, 6)))
    assert load_party_data(cfg).image is not None
    _run_bytes("dicom_bytes", tmp_path / "dcm/ACC2.dcm", cfg, manifest)


def test_nifti_bytes(tmp_path: Path) -> None:
    for k in range(4):
        img = nibabel.Nifti1Image(np.full((4, 5, 3), k, dtype=np.float32), np.eye(4))
        nibabel.save(img, tmp_path / f"p{k}.nii")
    manifest = ids_csv(tmp_path / "manifest.csv", IDS, path=[f"p{k}.nii" for k in range(4)])
    cfg = DataConfig(manifest, "patient_id", image=ImageSpec("nifti", manifest, shape=(4, 5, 3)))
    assert load_party_data(cfg).image is not None
    _run_bytes("nifti_bytes", tmp_path / "p1.nii", cfg, manifest)


def _npy_config(tmp: Path) -> tuple[DataConfig, Path]:
    ids = ids_csv(tmp / "ids.csv", IDS)
    path = tmp / "images.npy"
    np.save(path, np.arange(4 * 6 * 6, dtype=np.float32).reshape(4, 6, 6))
    return DataConfig(ids, "patient_id", image=ImageSpec("npy", path, shape=(6, 6))), path


def test_npy_bytes(tmp_path: Path) -> None:
    cfg, path = _npy_config(tmp_path)
    assert load_party_data(cfg).image is not None
    _run_bytes("npy_bytes", path, cfg)


ARRAYS = st.sampled_from(["f4", "f8", "f2", "i1", "u8", "i8", "?", "c8", "S3", "U2", "V4", "M8[s]"])


def test_npy_arrays(tmp_path: Path) -> None:
    """Arrays of any dtype, shape (0-D to 5-D, empty axes) with NaN, inf and huge values."""
    cfg, path = _npy_config(tmp_path)

    @FUZZ.settings("npy_arrays")
    @given(
        ARRAYS,
        st.lists(st.integers(0, 7), max_size=5),
        st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -0.0, 7.0]), max_size=3),
    )
    def one(dtype: str, shape: list[int], specials: list[float]) -> None:
        arr = np.zeros(shape, dtype=dtype)
        if arr.size and arr.dtype.kind in "fc":
            flat = arr.reshape(-1)
            with np.errstate(over="ignore"):  # 1e300 becomes inf in float16/32: wanted
                for i, v in enumerate(specials):
                    flat[i % flat.size] = v
        np.save(path, arr)
        _check("npy_arrays", cfg, path)

    one()
    FUZZ.record("npy_arrays")


# ---- genomics -----------------------------------------------------------------------------


def _vcf_config(tmp: Path) -> tuple[DataConfig, Path]:
    ids = ids_csv(tmp / "ids.csv", IDS, sample=[f"S{k}" for k in range(4)])
    calls = [
        ["0/0", "0/1", "1/1", "0|1"],
        ["1/1", "0/0", "./.", "0/1"],
        ["0/1", "0/1", "0/0", "1/1"],
    ]
    path = vcf(
        tmp / "g.vcf",
        [f"S{k}" for k in range(4)],
        [(f"rs{i}", "G", c) for i, c in enumerate(calls)],
    )
    spec = GenomicsSpec("vcf", path, sample_column="sample", min_maf=0.0)
    return DataConfig(ids, "patient_id", genomics=spec), path


def test_vcf_bytes(tmp_path: Path) -> None:
    cfg, path = _vcf_config(tmp_path)
    assert load_party_data(cfg).genomics is not None
    _run_bytes("vcf_bytes", path, cfg)


def test_vcf_lines(tmp_path: Path) -> None:
    """Whole lines dropped, repeated or swapped, fields cut or given hostile values."""
    cfg, path = _vcf_config(tmp_path)
    lines = path.read_text().splitlines()
    hostile = ["", ".", "-1", "1e400", "nan", "A" * 10_000, "\xff\xfe", "0/0/0", "9|9", "\t", "#"]

    @FUZZ.settings("vcf_lines")
    @given(st.data())
    def one(data: st.DataObject) -> None:
        out = list(lines)
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(out) - 1))
            op = data.draw(st.sampled_from(["drop", "repeat", "swap", "field"]))
            if op == "drop":
                del out[i]
            elif op == "repeat":
                out.insert(i, out[i])
            elif op == "swap":
                j = data.draw(st.integers(0, len(out) - 1))
                out[i], out[j] = out[j], out[i]
            else:
                cells = out[i].split("\t")
                k = data.draw(st.integers(0, len(cells) - 1))
                cells[k] = data.draw(st.sampled_from(hostile) | st.text(max_size=5))
                out[i] = "\t".join(cells)
            if not out:
                break
        path.write_bytes(("\n".join(out) + "\n").encode("utf-8", "surrogateescape"))
        _check("vcf_lines", cfg, path)

    one()
    FUZZ.record("vcf_lines")


# ---- tables and labels --------------------------------------------------------------------


def _table_config(tmp: Path, suffix: str) -> tuple[DataConfig, Path]:
    ids = ids_csv(tmp / "ids.csv", IDS)
    path = tmp / f"clinical{suffix}"
    frame = pd.DataFrame({"patient_id": IDS, "age": [50.0, 61, 70, 45], "bmi": [20.0, 31, 25, 22]})
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    table = TableSpec(path, id_column="patient_id")
    return DataConfig(ids, "patient_id", table=table), path


def test_table_bytes(tmp_path: Path) -> None:
    for suffix in ("csv", "parquet"):
        cfg, path = _table_config(tmp_path, f".{suffix}")
        assert load_party_data(cfg).table is not None
        _run_bytes(f"table_{suffix}_bytes", path, cfg)


CELLS = st.sampled_from(
    ["", "nan", "inf", "-inf", "1e400", "5e300", "-1e39", "NaN", "x", "\xff", "0", "1"]
) | st.text(max_size=6)


def _values(
    target: str, tmp: Path, make: Callable[[Path], tuple[DataConfig, Path]], col: str
) -> None:
    cfg, path = make(tmp)
    base = pd.read_csv(path, dtype=str)

    @FUZZ.settings(target)
    @given(st.lists(CELLS, min_size=len(base), max_size=len(base)), st.sampled_from(["csv", "raw"]))
    def one(cells: list[str], how: str) -> None:
        frame = base.copy()
        frame[col] = cells
        if how == "csv":
            frame.to_csv(path, index=False)
        else:  # cells written as raw bytes: lone surrogates become invalid UTF-8
            text = "\n".join(",".join(map(str, r)) for r in [frame.columns, *frame.values])
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
        _check(target, cfg, path)

    one()
    FUZZ.record(target)


def test_table_values(tmp_path: Path) -> None:
    _values("table_values", tmp_path, lambda t: _table_config(t, ".csv"), "age")


def _labels_config(tmp: Path) -> tuple[DataConfig, Path]:
    ids = ids_csv(tmp / "ids.csv", IDS)
    path = ids_csv(tmp / "labels.csv", IDS, response=["1", "0", "1", "0"])
    return DataConfig(
        ids, "patient_id", labels=LabelSpec(path, "response", id_column="patient_id")
    ), path


def test_labels_values(tmp_path: Path) -> None:
    _values("labels_values", tmp_path, _labels_config, "response")
