"""`vfl certs`: make a test CA and one mTLS identity per party."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vfl.certs import init_certs
from vfl.commands._options import format_option
from vfl.errors import ConfigError

__all__ = ["COMMANDS"]


@click.group(name="certs")
def certs() -> None:
    """Certificates for mutual TLS between parties (test CA; bring your own in production)."""


@certs.command(name="init")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for ca.pem, ca.key and <party>.pem / <party>.key.",
)
@click.option(
    "--parties",
    required=True,
    help=(
        "Comma-separated party names (DNS names: letters, digits, '-', '.'); each becomes a "
        "certificate's common name and DNS subject alternative name."
    ),
)
@click.option("--days", default=365, show_default=True, help="Validity of every certificate.")
@click.option("--force", is_flag=True, help="Replace existing files (default: refuse).")
@format_option
def init(out: Path, parties: str, days: int, force: bool, fmt: str) -> None:
    """Create a test CA and a key + certificate per party (keys are written 0600).

    The party name in each party's config must equal its certificate's common name. Each
    certificate also carries its party name as a DNS name: feature parties accept a label
    party only if its certificate names it (their [network] peer_name).
    """
    names = [p.strip() for p in parties.split(",") if p.strip()]
    if not names:
        raise ConfigError("--parties lists no party names", source="certs init")
    issued = init_certs(out, names, days=days, force=force)
    if fmt == "json":
        result = {
            "ca_cert": str(issued.ca_cert),
            "ca_key": str(issued.ca_key),
            "parties": {
                name: {"cert": str(issued.party_certs[name]), "key": str(issued.party_keys[name])}
                for name in names
            },
            "days": days,
        }
        click.echo(json.dumps(result, sort_keys=True))
        return
    click.echo(f"CA certificate: {issued.ca_cert}")
    click.echo(f"CA key:         {issued.ca_key}  (keep it offline; it signs identities)")
    for name in names:
        click.echo(f"{name}: {issued.party_certs[name]}  key {issued.party_keys[name]}")


COMMANDS = [certs]
