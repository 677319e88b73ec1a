"""`vfl synth`: write a realistic synthetic multimodal cohort, one folder per site."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vfl.commands._options import format_option

__all__ = ["COMMANDS", "synth_command"]


def _text(summary: dict[str, Any]) -> str:
    sizes = summary["sizes"]
    lines = [
        f"synthetic cohort in {summary['out']} (seed {summary['seed']})",
        f"  patients: imaging {sizes['imaging']}, genomics {sizes['genomics']}, "
        f"label {sizes['label']}; at every site: {summary['n_shared']}",
        "  party configs:",
        *(f"    {party:<9} {path}" for party, path in summary["configs"].items()),
        "  next: vfl align --config <party config>, at every party at once",
    ]
    return "\n".join(lines)


@click.command("synth")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="New (or empty) folder for the cohort.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for everything drawn.")
@click.option("--n-shared", default=1000, show_default=True, help="Patients at every site.")
@click.option("--n-imaging", default=1200, show_default=True, help="Patients at the imaging site.")
@click.option("--n-genomics", default=1250, show_default=True, help="Patients at the genomics lab.")
@click.option("--n-label", default=1150, show_default=True, help="Patients at the label party.")
@click.option("--n-snps", default=200, show_default=True, help="SNPs in the VCF.")
@click.option("--n-causal", default=5, show_default=True, help="Polygenic causal SNPs.")
@click.option("--n-scanners", default=3, show_default=True, help="CT scanners (batch effects).")
@click.option("--image-size", default=64, show_default=True, help="Slice size in pixels.")
@click.option("--port", default=50051, show_default=True, help="Label party port in the configs.")
@click.option(
    "--insecure",
    is_flag=True,
    help="Configs without TLS (loopback tests only); default: a test CA and mTLS identities.",
)
@format_option
def synth_command(out: Path, seed: int, fmt: str, insecure: bool, **sizes: int) -> None:
    """Write a realistic synthetic cohort: DICOM, VCF and a drug-response table.

    \b
    OUT/imaging/   one CT DICOM slice per patient + manifest.csv (patient_id, path)
    OUT/genomics/  cohort.vcf (lab sample IDs) + ids.csv (patient_id, sample_id)
    OUT/label/     response.csv (patient_id, response 0/1, age, female)
    OUT/<party>.toml  ready-to-run configs: label, imaging, genomics
    OUT/certs/     test CA and one mTLS identity per party (unless --insecure)

    The cohorts overlap only partly (--n-shared at every site). The response depends on an
    imaging x genomics interaction (lesion burden x a pharmacogenetic variant) besides main
    effects, so training on both modalities at once beats either alone and beats averaging
    single-modality predictions.
    """  # noqa: D301  (click needs the literal \b markers)
    from vfl.data.synth import SynthSpec, generate_cohort

    spec = SynthSpec(
        seed=seed,
        insecure=insecure,
        n_shared=sizes["n_shared"],
        n_imaging=sizes["n_imaging"],
        n_genomics=sizes["n_genomics"],
        n_label=sizes["n_label"],
        n_snps=sizes["n_snps"],
        n_causal=sizes["n_causal"],
        n_scanners=sizes["n_scanners"],
        image_size=sizes["image_size"],
        port=sizes["port"],
    )
    result = generate_cohort(spec, out)
    summary = {
        "out": str(result.out),
        "seed": seed,
        "sizes": result.sizes,
        "n_shared": result.n_shared,
        "configs": {party: str(path) for party, path in result.configs.items()},
        "id_files": {party: str(path) for party, path in result.id_files.items()},
    }
    click.echo(json.dumps(summary, sort_keys=True) if fmt == "json" else _text(summary))


COMMANDS = [synth_command]
