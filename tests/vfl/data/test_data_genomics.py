from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_helpers import ids_csv, vcf

from vfl.data import DataConfig, GenomicsSpec, Preprocessor, fit_preprocessor, load_party_data
from vfl.errors import InputDataError

IDS = ["MRN-1", "MRN-2", "MRN-3", "MRN-4"]
SAMPLES = ["GL04", "GL01", "GL03", "GL02"]  # VCF column order differs from the ID file


def _cohort(out: Path) -> DataConfig:
    vcf(
        out / "c.vcf",
        SAMPLES,
        [
            ("rs1", "G", ["0/0", "0/1", "1/1", "1|1"]),  # by sample GL04, GL01, GL03, GL02
            ("rs2", "T", ["./.", "0/0", "0/1", "0/0"]),  # one missing call
            ("rs3", "C,T", ["0/1", "0/2", "1/2", "0/0"]),  # multi-allelic: skipped
            ("rs4", "A", ["0/0", "0/0", "0/0", "0/0"]),  # monomorphic: filtered when fitting
            ("rs5", "C", ["0/1", "0/0", "0/0", "0/0"]),  # only GL04 (row 3) carries it
        ],
    )
    ids = ids_csv(out / "ids.csv", IDS, sample_id=["GL01", "GL02", "GL03", "GL04"])
    spec = GenomicsSpec("vcf", out / "c.vcf", sample_column="sample_id", min_maf=0.15)
    return DataConfig(ids, "patient_id", genomics=spec)


def test_vcf_gives_dosages_mapped_through_the_sample_column(out: Path) -> None:
    data = load_party_data(_cohort(out), rows=[3, 0, 1])
    g = data.genomics
    assert g is not None
    assert g.variants == ("rs1", "rs2", "rs4", "rs5")
    # rows 3, 0, 1 -> samples GL04, GL01, GL02
    assert g.values[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert np.isnan(g.values[0, 1])
    assert g.values[:, 3].tolist() == [1.0, 0.0, 0.0]


def test_maf_filter_imputation_and_standardisation_are_fitted_on_training_rows(out: Path) -> None:
    cfg = _cohort(out)
    data = load_party_data(cfg)
    prep = fit_preprocessor(cfg, data, [0, 1, 2])
    assert prep.genomics is not None
    # rs4 is monomorphic; rs5 has MAF 0 on the training rows (its carrier is row 3)
    assert prep.genomics.columns == ("rs1", "rs2")
    out_data = prep.transform(data)
    assert out_data.genomics is not None
    values = out_data.genomics.values
    assert values.shape == (4, 2)
    assert np.isfinite(values).all()
    assert values[:3].mean(axis=0) == pytest.approx([0.0, 0.0], abs=1e-6)
    again = Preprocessor.from_dict(prep.to_dict())
    assert np.array_equal(again.transform(data).genomics.values, values)  # type: ignore[union-attr]


def test_missing_sample_and_truncated_vcf_are_all_reported(out: Path) -> None:
    cfg = _cohort(out)
    ids_csv(out / "ids.csv", IDS, sample_id=["GL01", "GL02", "GL99", "GL04"])
    text = (out / "c.vcf").read_text()
    (out / "c.vcf").write_text(text[: len(text) - 12])  # last record cut mid-line
    with pytest.raises(InputDataError) as info:
        load_party_data(cfg)
    message = str(info.value)
    assert "sample missing at position 2" in message
    assert "c.vcf: malformed VCF, line 9: 11 columns where the #CHROM line has 13" in message
    assert "GL99" not in message and "MRN" not in message


def test_unreadable_vcf(out: Path) -> None:
    cfg = _cohort(out)
    (out / "c.vcf").write_text("garbage\n")
    with pytest.raises(InputDataError, match="unreadable VCF header"):
        load_party_data(cfg)


def test_dosage_matrix_csv_with_nan_and_out_of_range_values(out: Path) -> None:
    ids = ids_csv(out / "ids.csv", IDS)
    matrix = pd.DataFrame(
        {"patient_id": IDS[::-1], "rs1": [0, 1, 2, 1], "rs2": [0.0, np.nan, 3.0, 1.0]}
    )
    matrix.to_csv(out / "m.csv", index=False)
    cfg = DataConfig(ids, "patient_id", genomics=GenomicsSpec("matrix", out / "m.csv"))
    with pytest.raises(InputDataError) as info:
        load_party_data(cfg)
    assert "NaN or infinite values at position 2" in str(info.value)
    assert "dosage outside [0, 2] at position 1" in str(info.value)
    matrix["rs2"] = [0.0, 1e300, 2.0, 1.0]  # no float32: reported, not a RuntimeWarning
    matrix.to_csv(out / "m.csv", index=False)
    with pytest.raises(InputDataError, match=r"beyond the float32 range \(±3.4e38\) at position 2"):
        load_party_data(cfg)
    matrix["rs2"] = [0.5, 1.5, 2.0, 1.0]
    matrix.to_parquet(out / "m.parquet")
    cfg = DataConfig(ids, "patient_id", genomics=GenomicsSpec("matrix", out / "m.parquet"))
    data = load_party_data(cfg, rows=[0])
    assert data.genomics is not None
    assert data.genomics.values.tolist() == [[1.0, 1.0]]  # MRN-1 is the last matrix row


def test_pca_projection_is_fitted_locally_and_survives_json(out: Path) -> None:
    rng = np.random.default_rng(0)
    n = 80
    lead = rng.binomial(2, 0.4, size=n)
    dosages = [lead, lead, np.minimum(lead, 1), *(rng.binomial(2, 0.3, size=n) for _ in range(6))]
    calls = np.array(["0/0", "0/1", "1/1"])
    samples = [f"S{k:03d}" for k in range(n)]
    records = [(f"rs{j}", "G", calls[d].tolist()) for j, d in enumerate(dosages)]
    vcf(out / "ld.vcf", samples, records)
    ids = ids_csv(out / "ids.csv", samples)
    spec = GenomicsSpec("vcf", out / "ld.vcf", min_maf=0.01, pca=3)
    cfg = DataConfig(ids, "patient_id", genomics=spec)
    data = load_party_data(cfg)
    prep = fit_preprocessor(cfg, data, np.arange(60))
    projected = prep.transform(data).genomics
    assert projected is not None
    assert projected.variants == ("pc1", "pc2", "pc3")
    assert projected.values.shape == (n, 3)
    assert abs(np.corrcoef(projected.values[:, 0], lead)[0, 1]) > 0.9  # the LD block is pc1
    again = Preprocessor.from_dict(json.loads(json.dumps(prep.to_dict())))
    assert again == prep
    assert np.allclose(again.transform(data).genomics.values, projected.values)  # type: ignore[union-attr]
