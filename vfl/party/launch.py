"""Generate ID cohorts and run parties as real `vfl` processes (demo, tests, benchmarks).

Each party is its own OS process running the CLI, exactly as at an institution: the label party
is started first and waited for with `grpc.channel_ready_future` (never a sleep), then the
feature parties; every process is killed if anything goes wrong.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from vfl.errors import PeerUnreachableError, VflError

__all__ = [
    "PartyProcess",
    "free_port",
    "prepare_alignment",
    "probe_credentials",
    "run_parties",
    "wait_listening",
    "write_config",
    "write_id_cohorts",
]

_CLI = "from vfl.cli import main; main()"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_id_cohorts(
    out: Path,
    sizes: Mapping[str, int],
    shared: int,
    *,
    seed: int = 0,
    column: str = "patient_id",
) -> dict[str, Path]:
    """Write one CSV of patient IDs per party; `shared` IDs are common to all, in random order.

    Args:
        out: directory for `<party>_ids.csv`.
        sizes: party name -> number of IDs (each at least `shared`).
        shared: IDs every party holds.
        seed: makes the cohorts reproducible.
        column: ID column name.

    Returns:
        Party name -> path of its CSV.
    """
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    common = [f"PT-{rng.getrandbits(48):012x}" for _ in range(shared)]
    paths = {}
    for name, size in sizes.items():
        if size < shared:
            raise ValueError(f"party {name} holds {size} IDs, fewer than the {shared} shared")
        own = [f"{name[:3].upper()}-{rng.getrandbits(48):012x}" for _ in range(size - shared)]
        ids = common + own
        rng.shuffle(ids)
        path = out / f"{name}_ids.csv"
        path.write_text(column + "\n" + "\n".join(ids) + "\n", encoding="utf-8")
        paths[name] = path
    return paths


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write a party config: section -> key -> value (str, number, bool, list)."""
    lines: list[str] = []
    for section, table in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(v)}" for key, v in table.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass
class PartyProcess:
    """One finished party process: its exit code, stdout and stderr."""

    config: Path
    returncode: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, Any]:
        """The JSON summary the party printed (run with `--format json`)."""
        data: dict[str, Any] = json.loads(self.stdout)
        return data


def _start(
    config: Path, args: Sequence[str], logs: Path, command: str = "align"
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out, err = logs / f"{config.stem}.{command}.out", logs / f"{config.stem}.{command}.err"
    cmd = [sys.executable, "-c", _CLI, command, "--config", str(config), "--format", "json", *args]
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe)
    return proc, out, err


def wait_listening(
    address: str, timeout_s: float, credentials: grpc.ChannelCredentials | None = None
) -> None:
    """Block until something accepts gRPC connections at `address`.

    Raises:
        PeerUnreachableError: nothing there within `timeout_s`.
    """
    channel = (
        grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    )
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError as exc:
        raise PeerUnreachableError(f"nothing listening at {address} after {timeout_s:g} s") from exc
    finally:
        channel.close()


def run_parties(
    label: Path,
    features: Sequence[Path],
    *,
    label_address: str,
    args: Sequence[str] = (),
    logs: Path | None = None,
    timeout_s: float = 600.0,
    credentials: grpc.ChannelCredentials | None = None,
    command: str = "align",
) -> list[PartyProcess]:
    """Run `vfl <command>` for the label party and every feature party as separate processes.

    Args:
        label: the label party's config (listening on `label_address`).
        features: each feature party's config.
        label_address: where to wait for the label party before starting the others.
        args: extra CLI arguments for every party (e.g. `--insecure`).
        logs: directory for each process's stdout/stderr (default: next to the label config).
        timeout_s: overall limit; every process still running then is killed.
        credentials: channel credentials for the readiness probe under mTLS.
        command: the `vfl` command every party runs ("align", "train", "predict").

    Returns:
        The label party first, then the feature parties, each with exit code and output.
    """
    logs = logs or label.parent
    logs.mkdir(parents=True, exist_ok=True)
    started: list[tuple[Path, subprocess.Popen[bytes], Path, Path]] = []
    try:
        proc, out, err = _start(label, args, logs, command)
        started.append((label, proc, out, err))
        try:
            wait_listening(label_address, min(timeout_s, 60.0), credentials)
        except VflError:
            if proc.poll() is None:
                raise
            features = []  # the label party already exited (e.g. a config error)
        for cfg in features:
            started.append((cfg, *_start(cfg, args, logs, command)))
        deadline = time.monotonic() + timeout_s
        for _, p, _, _ in started:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        for _, p, _, _ in started:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [
        PartyProcess(
            cfg, p.returncode, o.read_text(errors="replace"), e.read_text(errors="replace")
        )
        for cfg, p, o, e in started
    ]


def prepare_alignment(
    root: Path,
    n: int,
    shared: int,
    port: int,
    *,
    label: str = "outcomes",
    features: Sequence[str] = ("imaging",),
    align: Mapping[str, Any] | None = None,
) -> tuple[Path, list[Path]]:
    """Write cohorts, a test CA with one certificate per party, and every party's config.

    Args:
        root: folder for `data/`, `certs/`, `runs/<party>/` and `<party>.toml`.
        n: IDs per party.
        shared: IDs all parties hold.
        port: the label party's port on 127.0.0.1.
        label: the label party's name.
        features: the feature parties' names.
        align: extra `[align]` settings for every party (the policy must match).

    Returns:
        The label party's config and the feature parties' configs.
    """
    from vfl.certs import init_certs

    names = [label, *features]
    data = write_id_cohorts(root / "data", dict.fromkeys(names, n), shared, seed=7)
    certs = init_certs(root / "certs", names, days=7, force=True)
    address = f"127.0.0.1:{port}"
    configs = []
    for name in names:
        net: dict[str, Any] = {
            "ca_cert": certs.ca_cert,
            "cert": certs.party_certs[name],
            "key": certs.party_keys[name],
            "timeout_s": 60,
            "peer_name": label,
        }
        if name == label:
            net.update(listen=address, feature_parties=list(features))
        else:
            net.update(peer=address)
        sections = {
            "party": {
                "name": name,
                "role": "label" if name == label else "feature",
                "run_id": "demo",
                "workdir": root / "runs" / name,
            },
            "network": net,
            "align": {"ids_file": data[name], "id_column": "patient_id", **(align or {})},
        }
        configs.append(write_config(root / f"{name}.toml", sections))
    return configs[0], configs[1:]


def probe_credentials(certs: Path, party: str) -> grpc.ChannelCredentials:
    """Channel credentials of `party` (files from `vfl certs init`), for `wait_listening`."""
    return grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(),
        (certs / f"{party}.key").read_bytes(),
        (certs / f"{party}.pem").read_bytes(),
    )
