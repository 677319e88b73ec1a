"""A small tabular cohort and party configs for stage-2 tests with real processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vfl.party import free_port, write_config, write_id_cohorts

FEATURES = {"imaging": 5, "genomics": 4, "clinical": 3}


def make_cohort(
    root: Path,
    parties: tuple[str, ...] = ("imaging", "genomics"),
    *,
    shared: int = 160,
    extra: int = 30,
    seed: int = 0,
    train: dict | None = None,
    run_id: str = "study",
) -> dict[str, Path]:
    """Write ID files, per-party tables, labels and TOML configs; return party -> config."""
    names = ("label", *parties)
    sizes = {n: shared + extra for n in names}
    ids = write_id_cohorts(root / "data", sizes, shared, seed=seed)
    rng = np.random.default_rng(seed)
    latent: dict[str, np.ndarray] = {}
    for name in names:
        for pid in ids[name].read_text().split()[1:]:
            latent.setdefault(pid, rng.normal(size=8))
    port = free_port()
    configs = {}
    for name in names:
        pids = ids[name].read_text().split()[1:]
        data: dict[str, dict] = {}
        if name == "label":
            z = np.array([latent[p] for p in pids])
            y = (z[:, 0] - z[:, 5] + z[:, 1] * z[:, 6] > 0).astype(int)
            table = root / "data" / "label_outcomes.csv"
            table.write_text(
                "patient_id,response\n"
                + "\n".join(
                    f"{p},{'responder' if v else 'non-responder'}"
                    for p, v in zip(pids, y, strict=True)
                )
            )
            data["data.labels"] = {
                "path": table,
                "column": "response",
                "task": "binary",
                "classes": ["non-responder", "responder"],
            }
        else:
            k = FEATURES[name]
            offset = 0 if name == "imaging" else 5 if name == "genomics" else 2
            table = root / "data" / f"{name}_features.csv"
            rows = []
            for p in pids:
                f = latent[p][offset : offset + 3].tolist() + rng.normal(0, 0.1, k - 3).tolist()
                rows.append(p + "," + ",".join(f"{v:.5f}" for v in f))
            header = "patient_id," + ",".join(f"f{i}" for i in range(k))
            table.write_text(header + "\n" + "\n".join(rows) + "\n")
            data["data.table"] = {"path": table}
        sections: dict[str, dict] = {
            "party": {
                "name": name,
                "role": "label" if name == "label" else "feature",
                "run_id": run_id,
                "workdir": root / "work" / name,
            },
            "network": (
                {"listen": f"127.0.0.1:{port}", "feature_parties": list(parties), "insecure": True}
                if name == "label"
                else {"peer": f"127.0.0.1:{port}", "insecure": True}
            ),
            "align": {"ids_file": ids[name], "id_column": "patient_id", "min_intersection": 100},
            "data": {},
            **data,
            "train": {
                "epochs": 2,
                "batch_size": 32,
                "key_bits": 1024,
                "workers": 1,
                "seed": 3,
                "interactive_width": 4,
                "hidden": [8],
                "lr": 0.01,
                **(train or {}),
            },
        }
        if name != "label":
            sections["tower"] = {"name": "tabular-mlp", "out_dim": 4}
        configs[name] = write_config(root / f"{name}.toml", sections)
    return configs


def label_address(config: Path) -> str:
    """The label party's listen address from its config."""
    import tomllib

    return tomllib.loads(config.read_text())["network"]["listen"]
