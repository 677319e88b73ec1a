"""Click options shared by several commands, defined once."""

from __future__ import annotations

import click

__all__ = ["format_option", "insecure_option"]

#: `--format text|json`: the summary on stdout, for people or for scripts.
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary format on stdout.",
)

#: `--insecure`: plaintext gRPC between parties; the transports warn loudly.
insecure_option = click.option(
    "--insecure",
    is_flag=True,
    help="No TLS and no party authentication (tests on loopback only; warns loudly).",
)
