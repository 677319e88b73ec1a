"""The demo's cohort: generated site files, a held-out set, and every party's two configs.

`generate_cohort` writes the three sites and ready-to-run configs. The demo then holds out
patients the way a study would: the label party withholds a random share of its outcome table
from training (`label/response_train.csv` trains, `label/response_heldout.csv` is kept back).
Feature parties keep their whole files; PSI then finds the training patients in the training
run and the held-out patients in the prediction run, so no held-out patient reaches training.

Each party gets a training config (`<party>.toml`, the generator's file plus `[tower]` and
`[train]`) and a prediction config (`<party>.heldout.toml`: a new run id and workdir; at the
label party the held-out table). The configs stay readable: the generator's text and comments
are kept and only named lines are changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vfl.data._synth_model import Effects
from vfl.data.synth import SynthSpec, generate_cohort
from vfl.errors import ConfigError

__all__ = ["DemoCohort", "TrainSettings", "prepare_cohort"]

LABEL = "label"
FEATURES = ("imaging", "genomics")
HELDOUT_FRACTION = 0.25
HELDOUT_MIN = 50
#: Main effects stronger than `vfl synth`'s defaults (1.2 each), so that a few epochs on a few
#: hundred patients show both modalities and their interaction; the interaction is unchanged.
DEMO_EFFECTS = Effects(imaging=2.0, genomics=2.0, interaction=3.0)

_TOWERS = {
    "imaging": (
        "# each site's tower: this one sees the site's 8 locally fitted image components\n"
        '[tower]\nname = "tabular-mlp"\nout_dim = 4\n\n[tower.options]\nhidden = [16]\n'
    ),
    "genomics": (
        "# each site's tower: this one sees the site's 8 genotype principal components\n"
        '[tower]\nname = "genomics-mlp"\nout_dim = 4\n\n[tower.options]\nhidden = [16]\n'
    ),
}


@dataclass(frozen=True)
class TrainSettings:
    """The `[train]` values the demo writes into every party's config."""

    epochs: int
    key_bits: int
    seed: int
    batch_size: int = 128
    interactive_width: int = 8
    lr: float = 0.02
    interactive_lr: float = 0.1
    val_fraction: float = 0.2
    workers: int | None = 1

    def toml(self) -> str:
        """The `[train]` section."""
        return (
            "\n[train]\n"
            'protection = "paillier"\n'
            f"key_bits = {self.key_bits}\n"
            f"epochs = {self.epochs}\n"
            f"batch_size = {self.batch_size}\n"
            f"seed = {self.seed}\n"
            f"interactive_width = {self.interactive_width}\n"
            "hidden = [16]\n"
            f"lr = {self.lr}\n"
            f"interactive_lr = {self.interactive_lr}\n"
            f"val_fraction = {self.val_fraction}\n"
            + (f"workers = {self.workers}\n" if self.workers else "")
        )


@dataclass(frozen=True)
class DemoCohort:
    """Where the demo's inputs are.

    Attributes:
        root: the cohort folder (site folders, certs/, configs).
        train: party -> training config.
        heldout: party -> prediction config for the held-out patients.
        label_address: where the label party listens.
        insecure: whether the configs run without TLS.
        all_ids: every ID at any site (for the audit scan; the demo alone holds this file).
        heldout_labels: the label party's held-out outcome table.
        n_shared: patients at every site.
        n_heldout_shared: held-out patients at every site (the prediction cohort).
    """

    root: Path
    train: dict[str, Path]
    heldout: dict[str, Path]
    label_address: str
    insecure: bool
    all_ids: Path
    heldout_labels: Path
    n_shared: int
    n_heldout_shared: int

    @property
    def parties(self) -> tuple[str, ...]:
        """The label party first, then the feature parties."""
        return (LABEL, *FEATURES)


def _replace_line(text: str, key: str, value: str, path: Path) -> str:
    """Set `key = value` on the one line assigning `key`."""
    pattern = re.compile(rf"^{re.escape(key)} = .*$", re.MULTILINE)
    new, count = pattern.subn(f"{key} = {value}", text)
    if count == 0:
        raise ConfigError(f"{path}: generated config has no {key!r} line")
    return new


def _split_labels(table: Path, seed: int) -> tuple[Path, Path]:
    frame = pd.read_csv(table, dtype={"patient_id": str})
    rng = np.random.default_rng([seed, 5])
    held = rng.random(len(frame)) < HELDOUT_FRACTION
    train_path = table.with_name("response_train.csv")
    held_path = table.with_name("response_heldout.csv")
    frame[~held].to_csv(train_path, index=False)
    frame[held].to_csv(held_path, index=False)
    return train_path, held_path


def _write_all_ids(root: Path, id_files: dict[str, Path]) -> Path:
    ids: set[str] = set()
    for path in id_files.values():
        ids.update(pd.read_csv(path, dtype={"patient_id": str})["patient_id"].tolist())
    out = root / "all_ids.csv"
    pd.DataFrame({"patient_id": sorted(ids)}).to_csv(out, index=False)
    return out


def _shared(paths: list[Path]) -> int:
    sets = [set(pd.read_csv(p, dtype={"patient_id": str})["patient_id"]) for p in paths]
    return len(set.intersection(*sets))


def _configs(
    base: Path, party: str, run_id: str, settings: TrainSettings, labels: tuple[str, str]
) -> tuple[Path, Path]:
    """Rewrite the generator's config `base` for training; write the prediction config."""
    text = base.read_text(encoding="utf-8")
    train_text = _replace_line(text, "run_id", f'"{run_id}"', base)
    held_text = _replace_line(text, "run_id", f'"{run_id}-heldout"', base)
    held_text = _replace_line(held_text, "workdir", f'"runs/{party}-heldout"', base)
    # Every party must agree on the policy; the held-out cohort is smaller than the minimum
    # of 100 a real study would keep.
    held_text = _replace_line(held_text, "min_intersection", str(HELDOUT_MIN), base)
    if party == LABEL:
        generated = '"label/response.csv"'
        train_text = train_text.replace(generated, f'"{labels[0]}"')
        held_text = held_text.replace(generated, f'"{labels[1]}"')
    extra = _TOWERS.get(party, "") + settings.toml()
    train_path, held_path = base, base.with_name(f"{party}.heldout.toml")
    train_path.write_text(train_text.rstrip() + "\n\n" + extra, encoding="utf-8")
    held_path.write_text(held_text.rstrip() + "\n\n" + extra, encoding="utf-8")
    return train_path, held_path


def prepare_cohort(
    root: Path,
    *,
    run_id: str,
    n_shared: int,
    seed: int,
    port: int,
    insecure: bool,
    settings: TrainSettings,
) -> DemoCohort:
    """Generate the cohort under `root`, hold out patients and write every config.

    Args:
        root: an empty or new folder for the cohort.
        run_id: the training run's id (prediction runs under `<run_id>-heldout`).
        n_shared: patients at every site, before the label party holds some out.
        seed: the cohort's seed (also draws the held-out patients).
        port: the label party's loopback port.
        insecure: write configs without TLS (and no certificates).
        settings: the `[train]` section.

    Raises:
        ConfigError: sizes the generator refuses, or too few held-out patients to evaluate.
    """
    extra = max(20, n_shared // 10)
    spec = SynthSpec(
        n_shared=n_shared,
        n_imaging=n_shared + extra,
        n_genomics=n_shared + extra,
        n_label=n_shared + extra,
        seed=seed,
        port=port,
        insecure=insecure,
        effects=DEMO_EFFECTS,
    )
    synth = generate_cohort(spec, root)
    train_labels, held_labels = _split_labels(synth.id_files[LABEL], seed)
    rel = (str(train_labels.relative_to(synth.out)), str(held_labels.relative_to(synth.out)))
    train, held = {}, {}
    for party, base in synth.configs.items():
        train[party], held[party] = _configs(base, party, run_id, settings, rel)
    features = [synth.id_files[p] for p in FEATURES]
    n_held = _shared([held_labels, *features])
    if n_held < HELDOUT_MIN:
        raise ConfigError(f"only {n_held} held-out patients; use a larger --n-shared")
    return DemoCohort(
        root=synth.out,
        train=train,
        heldout=held,
        label_address=f"127.0.0.1:{port}",
        insecure=insecure,
        all_ids=_write_all_ids(synth.out, synth.id_files),
        heldout_labels=held_labels,
        n_shared=_shared([train_labels, *features]),
        n_heldout_shared=n_held,
    )
