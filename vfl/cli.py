"""The `vfl` command line: one click group; each command delegates to the library.

Results go to stdout (human text, or one JSON object with `--format json`); progress bars and
logs go to stderr. Exit codes come from one table, `EXIT_CODES`, so scripts can tell a config
mistake from an unreachable peer without parsing text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from vfl import errors

__all__ = ["EXIT_CODES", "cli", "exit_code_for", "main"]

#: Exit code per error class; the most specific class listed wins.
EXIT_CODES: dict[type[BaseException], int] = {
    errors.ConfigError: 2,
    errors.InputDataError: 3,
    errors.PeerError: 4,
    errors.AlignmentError: 5,
    errors.ProtocolViolationError: 6,
    errors.CryptoError: 7,
    errors.TrainingError: 8,
    errors.AuditError: 9,
    errors.TowerError: 10,
    errors.VflError: 1,
}


def exit_code_for(exc: BaseException) -> int:
    """Return the exit code for an error, walking its class hierarchy."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def _setup_logging(verbose: int) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = RichHandler(
        console=Console(stderr=True), show_path=False, rich_tracebacks=False, markup=False
    )
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v info, -vv debug).")
@click.version_option(package_name="vfl")
def cli(verbose: int) -> None:
    """Vertical federated learning across institutions that hold different data.

    \b
    Typical flow, run at every party with its own TOML config:
      vfl align   --config party.toml   find shared patients (ECDH PSI)
      vfl train   --config party.toml   train the split model (Paillier-protected)
      vfl predict --config party.toml   joint prediction; results at the label party

    `vfl demo` runs all of it on a generated cohort; `vfl COMMAND --help` explains each step.
    """  # noqa: D301 - click needs the literal \b markers
    _setup_logging(verbose)


def _register_commands() -> None:
    """Attach the commands; each lives in `vfl.commands` and delegates to the library."""
    import importlib
    import pkgutil

    import vfl.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"vfl.commands.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register_commands()


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map errors to exit codes."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except errors.VflError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
