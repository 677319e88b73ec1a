from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_helpers import ids_csv

from vfl.data import (
    DataConfig,
    LabelSpec,
    Preprocessor,
    TableSpec,
    fit_preprocessor,
    load_party_data,
)
from vfl.errors import InputDataError

IDS = [f"MRN-{k:07d}" for k in range(6)]


def _table(out: Path, **columns: list[object]) -> Path:
    path = out / "response.csv"
    pd.DataFrame({"patient_id": IDS, **columns}).to_csv(path, index=False)
    return path


def test_binary_labels_and_clinical_features_from_one_table(out: Path) -> None:
    table = _table(
        out, response=[0, 1, 1, 0, 1, 0], age=[50, 60, 70, 40, 55, 65], female=[0, 1, 1, 0, 0, 1]
    )
    cfg = DataConfig(
        table,
        "patient_id",
        labels=LabelSpec(table, "response", classes=("0", "1")),
        table=TableSpec(table),
    )
    data = load_party_data(cfg, rows=[5, 1])
    assert data.labels is not None and data.table is not None
    assert data.labels.values.tolist() == [0, 1]
    assert data.table.columns == ("age", "female")  # the label column is never a feature
    assert data.table.values.tolist() == [[65.0, 1.0], [60.0, 1.0]]


def test_table_joins_by_id_when_it_is_not_the_id_file(out: Path) -> None:
    ids = ids_csv(out / "ids.csv", [" " + IDS[2], IDS[0]])  # stripped like stage 1 does
    table = _table(out, age=[50, 60, 70, 40, 55, 65])
    data = load_party_data(DataConfig(ids, "patient_id", table=TableSpec(table)))
    assert data.table is not None
    assert data.table.values[:, 0].tolist() == [70.0, 50.0]


def test_named_and_multiclass_labels(out: Path) -> None:
    table = _table(
        out, arm=["a", "b", "c", "a", "b", "c"], resp=["no", "yes", "yes", "no", "no", "yes"]
    )
    named = DataConfig(table, "patient_id", labels=LabelSpec(table, "resp", classes=("no", "yes")))
    assert load_party_data(named).labels.values.tolist() == [0, 1, 1, 0, 0, 1]  # type: ignore[union-attr]
    multi = DataConfig(table, "patient_id", labels=LabelSpec(table, "arm", task="multiclass"))
    labels = load_party_data(multi).labels
    assert labels is not None
    assert labels.classes == ("a", "b", "c")
    assert labels.values.tolist() == [0, 1, 2, 0, 1, 2]


def test_regression_targets(out: Path) -> None:
    table = _table(out, tumour_shrinkage=[0.1, -0.2, 0.5, 0.0, 1.25, 0.3])
    cfg = DataConfig(
        table, "patient_id", labels=LabelSpec(table, "tumour_shrinkage", task="regression")
    )
    labels = load_party_data(cfg).labels
    assert labels is not None
    assert labels.values.dtype == np.float32
    assert labels.values.tolist() == pytest.approx([0.1, -0.2, 0.5, 0.0, 1.25, 0.3])


def test_bad_labels_nan_features_and_missing_patients_are_listed_together(out: Path) -> None:
    table = _table(
        out, response=["0", "1", "2", "yes", "", "1.0"], age=[50, np.nan, 70, np.inf, 55, 65]
    )
    ids = ids_csv(out / "ids.csv", [*IDS, "MRN-9999999"])
    cfg = DataConfig(
        ids,
        "patient_id",
        labels=LabelSpec(table, "response", classes=("0", "1")),
        table=TableSpec(table, columns=("age",)),
    )
    with pytest.raises(InputDataError) as info:
        load_party_data(cfg)
    message = str(info.value)
    assert "label outside the expected classes (0, 1) at 2 positions: 2, 3" in message
    assert "missing label at position 4" in message
    assert "column 'age': missing, NaN or infinite value at 2 positions: 1, 3" in message
    assert message.count("patient missing at position 6") == 2  # labels and table
    assert "MRN" not in message


def test_table_standardisation_round_trips_through_json(out: Path, tmp_path: Path) -> None:
    table = _table(out, age=[50, 60, 70, 40, 55, 65], female=[0, 1, 1, 0, 0, 1])
    cfg = DataConfig(table, "patient_id", table=TableSpec(table))
    data = load_party_data(cfg)
    prep = fit_preprocessor(cfg, data, [0, 1, 2])
    assert prep.table is not None
    assert prep.table.mean[0] == pytest.approx(60.0)
    prep.save(tmp_path / "prep.json")
    loaded = Preprocessor.load(tmp_path / "prep.json")
    assert loaded == prep
    assert np.allclose(loaded.transform(data).table.values, prep.transform(data).table.values)  # type: ignore[union-attr]
    (tmp_path / "bad.json").write_text('{"version": 1, "table": {"columns": []}}')
    with pytest.raises(InputDataError, match="not a saved preprocessor"):
        Preprocessor.load(tmp_path / "bad.json")


def test_non_numeric_feature_column_is_refused(out: Path) -> None:
    table = _table(out, smoker=["y", "n", "y", "n", "y", "n"])
    cfg = DataConfig(table, "patient_id", table=TableSpec(table, columns=("smoker",)))
    with pytest.raises(InputDataError, match="non-numeric columns .*smoker"):
        load_party_data(cfg)


def test_values_beyond_float32_are_reported_not_a_runtime_warning(out: Path) -> None:
    """5e300 is a valid float64 but no float32: the cast used to raise numpy's overflow
    RuntimeWarning (an error under this suite's filterwarnings; seen once as a flaky
    failure of test_loader_fuzz.py::test_table_bytes when a byte flip wrote an exponent)."""
    table = _table(
        out,
        age=[50.0, 5e300, 70.0, -1e39, 3.4e38, np.nan],
        shrink=["0.1", "1e300", "-2e39", "3.3e38", "0.5", "0"],
    )
    ids = ids_csv(out / "ids.csv", IDS)
    cfg = DataConfig(
        ids,
        "patient_id",
        labels=LabelSpec(table, "shrink", task="regression"),
        table=TableSpec(table, columns=("age",)),
    )
    with pytest.raises(InputDataError) as info:
        load_party_data(cfg)
    message = str(info.value)
    assert "column 'age': value beyond the float32 range (±3.4e38) at 2 positions: 1, 3" in message
    assert "column 'age': missing, NaN or infinite value at position 5" in message
    assert "column 'shrink': not a finite number within ±3.4e38 at 2 positions: 1, 2" in message
