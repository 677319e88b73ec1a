"""The `[party]`, `[network]` and `[align]` sections of a party's TOML config.

Each section is parsed from a plain dict (already read by `vfl.config.load_config`) into a
frozen dataclass. Every problem is collected, so a user sees them all at once; relative paths
are resolved against the config file's directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psi.buckets import DEFAULT_BUCKET_SIZE
from psi.errors import ConfigError
from psi.net import server_name_problem

__all__ = [
    "VISIBILITIES",
    "AlignConfig",
    "NetworkConfig",
    "PartyConfig",
    "PsiConfig",
    "parse_psi_sections",
]

logger = logging.getLogger(__name__)

VISIBILITIES = ("both", "label-only", "size-only")
ROLES = ("label", "feature")


@dataclass(frozen=True)
class PartyConfig:
    """Who this party is: name (= certificate CN under mTLS), role, run and workdir."""

    name: str
    role: str
    run_id: str
    workdir: Path


@dataclass(frozen=True)
class NetworkConfig:
    """Where the parties meet and how the channel is secured.

    `peer_name` (feature parties) is the label party's `[party] name`. Under mutual TLS the
    label party's certificate must carry it as a DNS subject alternative name: the handshake
    refuses any other server at `peer`, even one with a valid certificate from the same CA.

    `insecure = true` turns off mutual TLS: every byte then crosses the network in clear and
    any process can claim any party name. Only for tests on loopback; it warns loudly.
    """

    peer: str | None
    listen: str | None
    feature_parties: tuple[str, ...]
    peer_name: str
    ca_cert: Path | None
    cert: Path | None
    key: Path | None
    insecure: bool
    timeout_s: float
    wait_s: float


@dataclass(frozen=True)
class AlignConfig:
    """Stage 1 inputs and policy (the policy must be equal at every party)."""

    ids_file: Path
    id_column: str
    case_fold: bool
    on_invalid: str
    visibility: str
    min_intersection: int
    bucket_size: int
    workers: int


@dataclass(frozen=True)
class PsiConfig:
    """The three sections stage 1 needs."""

    party: PartyConfig
    network: NetworkConfig
    align: AlignConfig


class _Section:
    """Typed reads from one TOML table, recording problems instead of raising."""

    def __init__(self, name: str, table: Any, problems: list[str], base: Path) -> None:
        self.name, self.problems, self.base = name, problems, base
        if not isinstance(table, Mapping):
            problems.append(f"[{name}] is missing or not a table")
            table = {}
        self.table: Mapping[str, Any] = table
        self.used: set[str] = set()

    def get(
        self,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                self.problems.append(f"[{self.name}] {key} is required")
            return None if default is ... else default
        value = self.table[key]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.problems.append(f"[{self.name}] {key} must be {names}, got {type(value).__name__}")
            return None
        problem = check(value) if check else None
        if problem:
            self.problems.append(f"[{self.name}] {key} {problem}")
            return None
        return value

    def path(self, key: str, default: Any = ...) -> Path | None:
        value = self.get(key, str, default, _non_empty)
        return None if value is None else (self.base / Path(value).expanduser())

    def finish(self) -> None:
        for key in sorted(set(self.table) - self.used):
            self.problems.append(f"[{self.name}] unknown key {key!r}")


def _non_empty(value: str) -> str | None:
    return "must not be empty" if not value.strip() else None


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else f"must be one of {', '.join(options)}; got {v!r}"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def _address(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    return None if sep and host and port.isdigit() else "must look like host:port"


def _parse_party(s: _Section) -> PartyConfig:
    party = PartyConfig(
        name=s.get("name", str, check=_non_empty),
        role=s.get("role", str, check=_one_of(ROLES)),
        run_id=s.get("run_id", str, check=_non_empty),
        workdir=s.path("workdir"),  # type: ignore[arg-type]
    )
    s.finish()
    return party


def _parse_network(s: _Section, role: str | None) -> NetworkConfig:
    net = NetworkConfig(
        peer=s.get("peer", str, None, _address),
        listen=s.get("listen", str, None, _address),
        feature_parties=tuple(s.get("feature_parties", list, [])),
        peer_name=s.get("peer_name", str, "label", _non_empty),
        ca_cert=s.path("ca_cert", None),
        cert=s.path("cert", None),
        key=s.path("key", None),
        insecure=s.get("insecure", bool, False),
        timeout_s=float(s.get("timeout_s", (int, float), 30, _positive) or 30),
        wait_s=float(s.get("wait_s", (int, float), 600, _positive) or 600),
    )
    if role == "feature" and not net.peer:
        s.problems.append(
            "[network] peer (the label party's host:port) is required for a feature party"
        )
    if role == "label":
        if not net.listen:
            s.problems.append("[network] listen (host:port) is required for the label party")
        names = net.feature_parties
        if not names or not all(isinstance(n, str) and n for n in names):
            s.problems.append("[network] feature_parties must list the feature parties' names")
        elif len(set(names)) != len(names):
            s.problems.append("[network] feature_parties has duplicate names")
    if not net.insecure:
        problem = server_name_problem(net.peer_name) if net.peer_name else None
        if role == "feature" and problem:
            s.problems.append(
                f"[network] peer_name {problem}: under mutual TLS it is the name the label "
                "party's certificate must carry"
            )
        for key in ("ca_cert", "cert", "key"):
            if getattr(net, key) is None:
                s.problems.append(
                    f"[network] {key} is required for mutual TLS (or set insecure = true)"
                )
    s.finish()
    return net


def _parse_align(s: _Section) -> AlignConfig:
    align = AlignConfig(
        ids_file=s.path("ids_file"),  # type: ignore[arg-type]
        id_column=s.get("id_column", str, check=_non_empty),
        case_fold=s.get("case_fold", bool, False),
        on_invalid=s.get("on_invalid", str, "error", _one_of(("error", "drop"))),
        visibility=s.get("visibility", str, "both", _one_of(VISIBILITIES)),
        min_intersection=s.get(
            "min_intersection", int, 100, lambda v: None if v >= 1 else "must be >= 1"
        ),
        bucket_size=s.get("bucket_size", int, DEFAULT_BUCKET_SIZE, _positive),
        workers=s.get("workers", int, 4, _positive),
    )
    s.finish()
    return align


def parse_psi_sections(doc: Mapping[str, Any], base: Path, problems: list[str]) -> PsiConfig | None:
    """Parse `[party]`, `[network]` and `[align]` from a TOML document.

    Args:
        doc: the whole TOML document; other sections are ignored here.
        base: directory relative paths are resolved against (the config file's).
        problems: list every problem found is appended to.

    Returns:
        The parsed config, or None when a problem was found.
    """
    before = len(problems)
    party = _parse_party(_Section("party", doc.get("party"), problems, base))
    network = _parse_network(_Section("network", doc.get("network"), problems, base), party.role)
    align = _parse_align(_Section("align", doc.get("align"), problems, base))
    if len(problems) > before:
        return None
    return PsiConfig(party=party, network=network, align=align)


def load_psi_config(doc: Mapping[str, Any], base: Path, source: str | None = None) -> PsiConfig:
    """Parse the stage-1 sections or raise one `ConfigError` listing every problem."""
    problems: list[str] = []
    cfg = parse_psi_sections(doc, base, problems)
    if cfg is None:
        raise ConfigError(problems, source)
    return cfg
