"""Ready-to-run party TOML configs for a synthetic cohort.

Paths are relative to the cohort folder, where the TOML files live (relative paths in a party
config resolve against the config file's folder), so the folder can be moved as a whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vfl.data.synth import SynthSpec

__all__ = ["write_party_configs"]

FEATURE_PARTIES = ("imaging", "genomics")


def _q(value: object) -> str:
    """Quote a TOML value (JSON strings and lists are valid TOML for these simple values)."""
    return json.dumps(str(value) if isinstance(value, Path) else value)


def _common(party: str, role: str, spec: SynthSpec, ids: Path, n_shared: int) -> list[str]:
    lines = [
        "[party]",
        f"name = {_q(party)}",
        f"role = {_q(role)}",
        f"run_id = {_q(f'synth-{spec.seed}')}",
        f"workdir = {_q(Path('runs') / party)}",
        "",
        "[network]",
    ]
    address = f"127.0.0.1:{spec.port}"
    if role == "label":
        lines += [f"listen = {_q(address)}", f"feature_parties = {_q(list(FEATURE_PARTIES))}"]
    else:
        lines += [f"peer = {_q(address)}"]
    if spec.insecure:
        lines += ["insecure = true  # loopback demo only: no TLS"]
    else:
        certs = Path("certs")
        lines += [
            "# test CA and identities written by `vfl synth` (`vfl certs init` makes new ones)",
            f"ca_cert = {_q(certs / 'ca.pem')}",
            f"cert = {_q(certs / f'{party}.pem')}",
            f"key = {_q(certs / f'{party}.key')}",
        ]
    lines += [
        "timeout_s = 30",
        "",
        "[align]",
        f"ids_file = {_q(ids)}",
        'id_column = "patient_id"',
        "case_fold = false",
        'on_invalid = "error"',
        'visibility = "both"',
        f"min_intersection = {min(100, n_shared)}",
        "",
    ]
    return lines


def _data(party: str, ids: Path, spec: SynthSpec) -> list[str]:
    if party == "imaging":
        return [
            "[data.image]",
            'format = "dicom"',
            f"path = {_q(ids)}",
            'path_column = "path"',
            f"shape = [{spec.image_size}, {spec.image_size}]",
            'resize = "crop"',
            'normalize = "window"',
            "window = [40.0, 400.0]  # soft-tissue CT window (HU)",
            "# principal components of this site's training images, for an MLP tower; set 0 to",
            "# feed whole images to a CNN tower (needs a larger cohort or more epochs)",
            "pca = 8",
        ]
    if party == "genomics":
        return [
            "[data.genomics]",
            'format = "vcf"',
            f"path = {_q(ids.parent / 'cohort.vcf')}",
            'sample_column = "sample_id"',
            "min_maf = 0.01",
            "standardize = true",
            "# principal components of this site's training rows: a haplotype block in LD becomes",
            "# one strong input instead of many weak ones; set 0 to feed the filtered dosages",
            "pca = 8",
        ]
    return [
        "[data.labels]",
        f"path = {_q(ids)}",
        'column = "response"',
        'task = "binary"',
        "classes = [0, 1]",
        "",
        "[data.table]",
        f"path = {_q(ids)}",
        'columns = ["age", "female"]',
        "standardize = true",
    ]


def write_party_configs(
    out: Path, id_files: dict[str, Path], spec: SynthSpec, *, n_shared: int
) -> dict[str, Path]:
    """Write ``out/<party>.toml`` for the label party and each feature party.

    Args:
        out: the cohort folder (absolute).
        id_files: each party's ID file (what it aligns on), under `out`.
        spec: the cohort options (seed, port, insecure).
        n_shared: patients at every site, to keep `min_intersection` satisfiable.

    Returns:
        The config path per party.
    """
    paths = {}
    for party in ("label", *FEATURE_PARTIES):
        role = "label" if party == "label" else "feature"
        ids = id_files[party].relative_to(out)
        lines = _common(party, role, spec, ids, n_shared)
        lines += _data(party, ids, spec)
        path = out / f"{party}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths[party] = path
    return paths
