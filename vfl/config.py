"""A party's TOML config, loaded once into frozen dataclasses.

Each section is parsed by the package that owns it (`psi.config` for `[party]`, `[network]`
and `[align]`; stage 2 adds `[data]`, `[tower]` and `[train]`). Every problem from every section
is collected and raised together in one `ConfigError`. Unknown sections are kept in `extra`
(no error: later stages add their own); unknown keys inside a known section are errors.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psi.config import AlignConfig, NetworkConfig, PartyConfig, PsiConfig, parse_psi_sections
from vfl.errors import ConfigError

__all__ = ["Config", "load_config", "parse_config"]


@dataclass(frozen=True)
class Config:
    """One party's whole configuration.

    Attributes:
        party: identity, role, run ID and workdir.
        network: addresses and TLS material.
        align: stage-1 input and policy.
        extra: sections not parsed here, by name (stage 2 parses its own).
        source: the file the config came from.
    """

    party: PartyConfig
    network: NetworkConfig
    align: AlignConfig
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None

    @property
    def psi(self) -> PsiConfig:
        """The stage-1 view of this config (what `psi.run.align` takes)."""
        return PsiConfig(self.party, self.network, self.align)


def _merge(doc: dict[str, Any], overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    out = dict(doc)
    for section, values in overrides.items():
        table = out.get(section)
        out[section] = {**(table if isinstance(table, Mapping) else {}), **values}
    return out


def parse_config(
    doc: Mapping[str, Any],
    base: Path,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    source: Path | None = None,
) -> Config:
    """Build a `Config` from an already-read TOML document.

    Args:
        doc: the TOML document.
        base: directory relative paths resolve against.
        overrides: values replacing the document's, per section (e.g. from CLI flags).
        source: where the document came from, for messages.

    Raises:
        ConfigError: listing every problem found.
    """
    merged = _merge(dict(doc), overrides or {})
    problems: list[str] = []
    psi_cfg = parse_psi_sections(merged, base, problems)
    if psi_cfg is None or problems:
        raise ConfigError(problems, str(source) if source else None)
    known = {"party", "network", "align"}
    extra = {k: v for k, v in merged.items() if k not in known}
    return Config(psi_cfg.party, psi_cfg.network, psi_cfg.align, extra, source)


def load_config(
    path: str | Path, *, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Config:
    """Read a party's TOML file and parse it; relative paths resolve against its directory.

    Raises:
        ConfigError: unreadable file, invalid TOML, or every problem in the sections.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", str(path)) from exc
    return parse_config(doc, path.resolve().parent, overrides=overrides, source=path)
