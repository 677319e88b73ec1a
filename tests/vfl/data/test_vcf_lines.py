"""VCF record lines htslib must not see as they are (`vfl.data._vcf_lines`).

The regression: cyvcf2 0.35 hands back a record that htslib failed to parse when its contig
is not declared in the header, and reading its genotypes segfaults the process. The minimal
case is a header declaring contig 1 and one record on contig 2 with an unparsable genotype.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_helpers import VCF_HEADER, ids_csv

from vfl.data import DataConfig, GenomicsSpec, load_party_data
from vfl.errors import InputDataError

SAMPLES = ["S0", "S1", "S2", "S3"]
HEADER = VCF_HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS0\tS1\tS2\tS3\n"
GOOD = "1\t100\trs0\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1\t0|1\n"
#: Contig 2 is not declared in the header; "x" is not a genotype.
CRASHER = "2\t200\trs1\tA\tG\t.\tPASS\t.\tGT\t1/1\tx\t0/0\t0/0\n"


def _config(tmp: Path, body: str, name: str = "g.vcf") -> tuple[DataConfig, Path]:
    path = tmp / name
    data = (HEADER + body).encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    ids = ids_csv(tmp / "ids.csv", ["P0", "P1", "P2", "P3"], sample=SAMPLES)
    spec = GenomicsSpec("vcf", path, sample_column="sample", min_maf=0.0)
    return DataConfig(ids, "patient_id", genomics=spec), path


def _error(cfg: DataConfig) -> str:
    with pytest.raises(InputDataError) as info:
        load_party_data(cfg)
    return str(info.value)


def test_minimal_crashing_vcf_is_a_clear_error_in_a_child_process(tmp_path: Path) -> None:
    """Run in a child process, so that a regression fails this test instead of killing the
    test run with SIGSEGV."""
    cfg, path = _config(tmp_path, GOOD + CRASHER)
    code = (
        "import sys; from pathlib import Path\n"
        "from vfl.data import DataConfig, GenomicsSpec, load_party_data\n"
        "from vfl.errors import InputDataError\n"
        "spec = GenomicsSpec('vcf', Path(sys.argv[1]), sample_column='sample', min_maf=0.0)\n"
        "try:\n"
        "    load_party_data(DataConfig(Path(sys.argv[2]), 'patient_id', genomics=spec))\n"
        "except InputDataError as exc:\n"
        "    print(exc)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(path), str(cfg.ids_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, (child.returncode, child.stderr[-2000:])
    assert f"{path}: malformed VCF record at line 6" in child.stdout, child.stdout


@pytest.mark.parametrize("name", ["g.vcf", "g.vcf.gz"])
def test_records_on_undeclared_contigs_still_load(tmp_path: Path, name: str) -> None:
    body = GOOD + "2\t200\trs1\tA\tG\t.\tPASS\t.\tGT\t1/1\t0/0\t./.\t0/1\n"
    cfg, _ = _config(tmp_path, body, name)
    g = load_party_data(cfg).genomics
    assert g is not None and g.variants == ("rs0", "rs1")
    assert np.array_equal(g.values[:, 1], [2, 0, np.nan, 1], equal_nan=True)


def test_crashing_record_inside_a_gzip_vcf_is_a_clear_error(tmp_path: Path) -> None:
    cfg, path = _config(tmp_path, GOOD + CRASHER, "g.vcf.gz")
    assert f"{path}: malformed VCF record at line 6" in _error(cfg)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (GOOD + "\n" + GOOD.replace("100", "300"), "line 6: empty line inside the records"),
        (GOOD + "##INFO=<ID=X>\n", "line 6: a header line after #CHROM"),
        ("A B\t" + GOOD.split("\t", 1)[1], "line 5: invalid CHROM"),
        ("\xff" + GOOD, "line 5: invalid CHROM"),
        (GOOD + GOOD.replace("\t0|1\n", "\n"), "line 6: 12 columns where the #CHROM line has 13"),
        (GOOD.replace("\n", "\t0/0\n"), "line 5: 14 columns where the #CHROM line has 13"),
        ("1\n", "line 5: 1 columns where the #CHROM line has 13"),
    ],
)
def test_lines_htslib_would_misread_name_file_and_line(
    tmp_path: Path, body: str, reason: str
) -> None:
    cfg, path = _config(tmp_path, body)
    assert f"{path}: malformed VCF, {reason}" in _error(cfg)


def test_crlf_line_ends_are_read_like_htslib_reads_them(tmp_path: Path) -> None:
    cfg, path = _config(tmp_path, GOOD)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    g = load_party_data(cfg).genomics
    assert g is not None and g.values[:, 0].tolist() == [0, 1, 2, 1]


def test_a_cut_gzip_stream_is_a_clear_error(tmp_path: Path) -> None:
    cfg, path = _config(tmp_path, GOOD * 50, "g.vcf.gz")
    path.write_bytes(path.read_bytes()[:-30])
    assert str(path) in _error(cfg)
