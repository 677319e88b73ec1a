"""A realistic synthetic multimodal cohort, written as each site would hold it.

`generate_cohort` writes one folder per site, in real formats:

- ``imaging/``: one CT DICOM slice per patient (``dicom/<accession>.dcm``; a lesion whose size
  and texture follow a latent phenotype; 2-4 scanners with their own intensity offsets, gains
  and noise) and ``manifest.csv`` (``patient_id``, ``path``), the ID file it aligns on;
- ``genomics/``: ``cohort.vcf`` (SNPs at realistic allele frequencies, a few causal variants,
  some missing calls, two multi-allelic sites) whose samples carry lab sample IDs, and
  ``ids.csv`` (``patient_id``, ``sample_id``), the ID file it aligns on;
- ``label/``: ``response.csv`` (``patient_id``, ``response`` 0/1, ``age``, ``female``).

IDs are hospital MRNs (``MRN-0012345``), the same string at every site, so they match after
stage 1's normalisation without case folding. Each site's rows are in its own order. The
cohorts overlap only partly: ``n_shared`` patients are at every site, the rest are site
extras. The drug response depends on an imaging x genomics interaction as well as main
effects (see `vfl.data._synth_model`). ``DIR/<party>.toml`` are ready-to-run party configs
(paths relative to DIR; ``certs/`` holds a fresh test CA and one mTLS identity per party unless
``insecure``), and ``DIR/cohort.json`` records the sizes and seed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vfl.certs import init_certs
from vfl.data._synth_config import FEATURE_PARTIES, write_party_configs
from vfl.data._synth_images import SCANNERS, render_slices, write_dicoms
from vfl.data._synth_model import PGX_BLOCK, Cohort, Effects, draw_cohort
from vfl.data._synth_vcf import write_vcf
from vfl.errors import ConfigError

__all__ = ["SynthResult", "SynthSpec", "generate_cohort"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthSpec:
    """Sizes and knobs of the synthetic cohort; every default is realistic and fast."""

    n_shared: int = 1000
    n_imaging: int = 1200
    n_genomics: int = 1250
    n_label: int = 1150
    n_snps: int = 200
    n_causal: int = 5
    n_scanners: int = 3
    image_size: int = 64
    seed: int = 0
    port: int = 50051
    insecure: bool = False
    effects: Effects = field(default_factory=Effects)

    def problems(self) -> list[str]:
        """Every inconsistent option, for one error."""
        out = []
        if self.n_shared < 1:
            out.append("--n-shared must be at least 1")
        for name in ("n_imaging", "n_genomics", "n_label"):
            if getattr(self, name) < self.n_shared:
                out.append(f"--{name.replace('_', '-')} must be at least --n-shared")
        if not 1 <= self.n_causal <= self.n_snps - PGX_BLOCK:
            out.append(
                f"--n-causal must be between 1 and --n-snps - {PGX_BLOCK} (pharmacogene block)"
            )
        if not 1 <= self.n_scanners <= len(SCANNERS):
            out.append(f"--n-scanners must be between 1 and {len(SCANNERS)}")
        if self.image_size < 32:
            out.append("--image-size must be at least 32")
        return out


@dataclass(frozen=True)
class SynthResult:
    """Where everything was written, and the sizes."""

    out: Path
    configs: dict[str, Path]
    id_files: dict[str, Path]
    sizes: dict[str, int]
    n_shared: int


def _write_imaging(cohort: Cohort, spec: SynthSpec, site: Path) -> Path:
    members = cohort.members["imaging"]
    rng = np.random.default_rng([spec.seed, 1])
    hu = render_slices(
        rng,
        cohort.phenotype[members],
        cohort.size_noise[members],
        cohort.texture_noise[members],
        cohort.scanner[members],
        size=spec.image_size,
    )
    (site / "dicom").mkdir(parents=True)
    accessions = rng.choice(90_000_000, size=members.size, replace=False) + 10_000_000
    paths = [f"dicom/ACC{a:08d}.dcm" for a in accessions]
    ids = [cohort.ids[m] for m in members]
    scanners = [int(s) for s in cohort.scanner[members]]
    write_dicoms([site / p for p in paths], hu, ids, scanners, rng)
    manifest = site / "manifest.csv"
    pd.DataFrame({"patient_id": ids, "path": paths}).to_csv(manifest, index=False)
    return manifest


def _write_genomics(cohort: Cohort, spec: SynthSpec, site: Path) -> Path:
    members = cohort.members["genomics"]
    rng = np.random.default_rng([spec.seed, 2])
    site.mkdir(parents=True)
    samples = [
        f"GL{n:06d}" for n in rng.choice(900_000, size=members.size, replace=False) + 100_000
    ]
    ids = site / "ids.csv"
    pd.DataFrame({"patient_id": [cohort.ids[m] for m in members], "sample_id": samples}).to_csv(
        ids, index=False
    )
    vcf_order = rng.permutation(members.size)
    write_vcf(
        site / "cohort.vcf",
        [samples[k] for k in vcf_order],
        cohort.genotypes[members[vcf_order]],
        cohort.freqs,
        rng,
    )
    return ids


def _write_labels(cohort: Cohort, site: Path) -> Path:
    members = cohort.members["label"]
    site.mkdir(parents=True)
    table = site / "response.csv"
    frame = pd.DataFrame(
        {
            "patient_id": [cohort.ids[m] for m in members],
            "response": cohort.response[members],
            "age": cohort.age[members].astype(int),
            "female": cohort.female[members],
        }
    )
    frame.to_csv(table, index=False)
    return table


def generate_cohort(spec: SynthSpec, out: Path) -> SynthResult:
    """Draw the cohort and write every site's files and configs under `out`.

    Args:
        spec: sizes, seed and knobs.
        out: a folder that is empty or does not exist yet.

    Raises:
        ConfigError: inconsistent sizes, or `out` already holds files.
    """
    problems = spec.problems()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        problems.append(f"--out {out} exists and is not an empty folder")
    if problems:
        raise ConfigError(problems, source="vfl synth")
    out = out.resolve()
    sizes = {"imaging": spec.n_imaging, "genomics": spec.n_genomics, "label": spec.n_label}
    cohort = draw_cohort(
        spec.seed,
        n_shared=spec.n_shared,
        sizes=sizes,
        n_snps=spec.n_snps,
        n_causal=spec.n_causal,
        n_scanners=spec.n_scanners,
        effects=spec.effects,
    )
    id_files = {
        "imaging": _write_imaging(cohort, spec, out / "imaging"),
        "genomics": _write_genomics(cohort, spec, out / "genomics"),
        "label": _write_labels(cohort, out / "label"),
    }
    common = set.intersection(*(set(m.tolist()) for m in cohort.members.values()))
    if not spec.insecure:
        init_certs(out / "certs", ["label", *FEATURE_PARTIES])
    configs = write_party_configs(out, id_files, spec, n_shared=len(common))
    summary = {
        "seed": spec.seed,
        "sizes": sizes,
        "n_shared": len(common),
        "spec": {k: v for k, v in asdict(spec).items() if k != "effects"},
        "effects": asdict(spec.effects),
        "configs": {k: str(v) for k, v in configs.items()},
    }
    (out / "cohort.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    _log.info("synthetic cohort written: %d shared patients, sites %s", len(common), sizes)
    return SynthResult(out, configs, id_files, sizes, len(common))
