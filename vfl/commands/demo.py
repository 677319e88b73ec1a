"""`vfl demo`: the whole job on generated data, each party a real process.

For now the job is stage 1: two generated cohorts (label party "outcomes", feature party
"imaging") aligned over mutual TLS between two `vfl align` processes. The pieces (cohorts,
configs, process orchestration) live in `vfl.party.launch` so later stages extend the demo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import grpc

from vfl.errors import AlignmentError

__all__ = ["COMMANDS", "demo_command", "prepare_alignment_demo"]

LABEL, FEATURE = "outcomes", "imaging"


def prepare_alignment_demo(root: Path, n: int, shared: int, port: int) -> tuple[Path, Path]:
    """Write cohorts, certificates and both party configs under `root`; return the configs."""
    from vfl.certs import init_certs
    from vfl.party.launch import write_config, write_id_cohorts

    data = write_id_cohorts(root / "data", {LABEL: n, FEATURE: n}, shared, seed=7)
    certs = init_certs(root / "certs", [LABEL, FEATURE], days=7, force=True)
    address = f"127.0.0.1:{port}"
    configs = []
    for name, role in ((LABEL, "label"), (FEATURE, "feature")):
        net: dict[str, Any] = {
            "ca_cert": certs.ca_cert,
            "cert": certs.party_certs[name],
            "key": certs.party_keys[name],
            "timeout_s": 30,
            "peer_name": LABEL,
        }
        net.update(
            {"listen": address, "feature_parties": [FEATURE]}
            if role == "label"
            else {"peer": address}
        )
        sections = {
            "party": {
                "name": name,
                "role": role,
                "run_id": "demo",
                "workdir": root / "runs" / name,
            },
            "network": net,
            "align": {"ids_file": data[name], "id_column": "patient_id"},
        }
        configs.append(write_config(root / f"{name}.toml", sections))
    return configs[0], configs[1]


def _credentials(root: Path) -> grpc.ChannelCredentials:
    certs = root / "certs"
    return grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(),
        (certs / f"{LABEL}.key").read_bytes(),
        (certs / f"{LABEL}.pem").read_bytes(),
    )


@click.command("demo")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("runs/demo"),
    show_default=True,
    help="Where everything is written.",
)
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=200),
    default=20_000,
    show_default=True,
    help="IDs per party (half of them shared).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary format on stdout.",
)
def demo_command(workdir: Path, n: int, fmt: str) -> None:
    """Run the job end to end on generated data, each party in its own process.

    Generates two partially overlapping cohorts, a throw-away CA with one certificate per
    party, and one config per party, then runs `vfl align` for both parties as separate
    processes talking gRPC over mutual TLS on loopback.
    """
    from vfl.party.launch import free_port, run_parties

    port = free_port()
    label, feature = prepare_alignment_demo(workdir, n, n // 2, port)
    runs = run_parties(
        label,
        [feature],
        label_address=f"127.0.0.1:{port}",
        logs=workdir / "logs",
        credentials=_credentials(workdir),
    )
    failed = [r for r in runs if r.returncode != 0]
    if failed:
        lines = "; ".join(f"{r.config.stem}: {r.stderr.strip().splitlines()[-1:]}" for r in failed)
        raise AlignmentError(f"demo alignment failed ({lines}); logs in {workdir / 'logs'}")
    summaries = [r.summary() for r in runs]
    if fmt == "json":
        click.echo(json.dumps({"parties": summaries}, sort_keys=True))
        return
    for s in summaries:
        click.echo(
            f"{s['party']} ({s['role']}): {s['sizes']['final']} shared of "
            f"{s['sizes']['valid_ids']}; outputs in {s['workdir']}"
        )
    click.echo(f"digests agree: {len({s['digest'] for s in summaries}) == 1}")


COMMANDS = [demo_command]
