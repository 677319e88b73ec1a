from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from click.testing import CliRunner
from data_helpers import load_site

from vfl.cli import cli, exit_code_for
from vfl.config import load_config
from vfl.data.synth import SynthResult, SynthSpec, generate_cohort
from vfl.errors import ConfigError

TINY = SynthSpec(n_shared=40, n_imaging=50, n_genomics=55, n_label=45, n_snps=30, insecure=True)


def test_every_site_reads_back_through_its_own_config(small_cohort: SynthResult) -> None:
    imaging = load_site(small_cohort.configs["imaging"])
    genomics = load_site(small_cohort.configs["genomics"])
    label = load_site(small_cohort.configs["label"])
    assert imaging.image is not None and imaging.image.shape == (1080, 1, 64, 64)
    assert genomics.genomics is not None and genomics.genomics.values.shape == (1100, 200)
    assert np.isnan(genomics.genomics.values).any()  # a few missing calls, as on real arrays
    assert label.labels is not None and set(label.labels.values.tolist()) == {0, 1}
    assert label.table is not None and label.table.columns == ("age", "female")
    assert 0.25 < label.labels.values.mean() < 0.75


def test_cohorts_overlap_partly_with_realistic_ids(small_cohort: SynthResult) -> None:
    ids = {
        site: pd.read_csv(path, dtype=str)["patient_id"].tolist()
        for site, path in small_cohort.id_files.items()
    }
    assert all(re.fullmatch(r"MRN-\d{7}", i) for site_ids in ids.values() for i in site_ids)
    shared = set.intersection(*(set(v) for v in ids.values()))
    assert len(shared) == small_cohort.n_shared >= 1000
    assert all(len(v) > len(shared) for v in ids.values())  # nobody holds only the overlap
    assert ids["imaging"][:50] != ids["label"][:50]  # each site keeps its own row order
    samples = pd.read_csv(small_cohort.id_files["genomics"], dtype=str)["sample_id"]
    with (small_cohort.out / "genomics/cohort.vcf").open() as fh:
        vcf_header = next(line for line in fh if line.startswith("#C"))
    assert set(vcf_header.split()[9:]) == set(samples)  # the VCF knows lab IDs, not MRNs


def test_scanners_shift_intensities(small_cohort: SynthResult) -> None:
    manifest = pd.read_csv(small_cohort.id_files["imaging"])
    by_vendor: dict[str, list[float]] = {}
    for rel in manifest["path"][:240]:
        ds = pydicom.dcmread(small_cohort.out / "imaging" / rel)
        hu = ds.pixel_array.astype(float) + float(ds.RescaleIntercept)
        by_vendor.setdefault(str(ds.Manufacturer), []).append(float(np.median(hu[28:36, 4:12])))
    assert len(by_vendor) == 3
    medians = sorted(np.median(v) for v in by_vendor.values())
    assert medians[-1] - medians[0] > 30  # batch effect well above the noise of a median


def test_same_seed_same_cohort_and_options_are_validated(tmp_path: Path) -> None:
    a = generate_cohort(replace(TINY, seed=3), tmp_path / "a")
    b = generate_cohort(replace(TINY, seed=3), tmp_path / "b")
    for rel in ("label/response.csv", "genomics/ids.csv", "imaging/manifest.csv"):
        assert (a.out / rel).read_text() == (b.out / rel).read_text()
    assert "insecure = true" in a.configs["label"].read_text()
    with pytest.raises(ConfigError) as info:
        generate_cohort(SynthSpec(n_shared=10, n_imaging=5, n_causal=0, seed=3), tmp_path / "a")
    problems = "\n".join(info.value.problems)
    assert "--n-imaging must be at least --n-shared" in problems
    assert "--n-causal" in problems and "not an empty folder" in problems


def test_cli_writes_a_cohort_and_maps_mistakes_to_exit_codes(tmp_path: Path) -> None:
    args = ["synth", "--out", str(tmp_path / "c"), "--format", "json", "--insecure"]
    sizes = ["--n-shared", "40", "--n-imaging", "50", "--n-genomics", "55", "--n-label", "45"]
    result = CliRunner().invoke(cli, [*args, *sizes, "--n-snps", "30"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sizes"] == {"imaging": 50, "genomics": 55, "label": 45}
    assert set(summary["configs"]) == {"label", "imaging", "genomics"}
    assert load_config(summary["configs"]["genomics"]).align.min_intersection == 40
    again = CliRunner().invoke(cli, [*args, *sizes], standalone_mode=False)
    assert isinstance(again.exception, ConfigError)
    assert exit_code_for(again.exception) == 2


def _vfl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from vfl.cli import main; main()", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_synth_as_a_real_process(tmp_path: Path) -> None:
    sizes = ["--n-shared", "30", "--n-imaging", "35", "--n-genomics", "40", "--n-label", "32"]
    ok = _vfl("synth", "--out", "c", *sizes, "--n-snps", "20", "--format", "json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["n_shared"] >= 30
    assert (tmp_path / "c" / "certs" / "imaging.pem").is_file()  # mTLS configs are ready to run
    site = load_site(Path(summary["configs"]["imaging"]))
    assert site.image is not None and site.image.shape == (35, 1, 64, 64)
    bad = _vfl("synth", "--out", "c", "--n-shared", "50", "--n-label", "10", cwd=tmp_path)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "--n-label must be at least --n-shared" in bad.stderr
    assert "not an empty folder" in bad.stderr
