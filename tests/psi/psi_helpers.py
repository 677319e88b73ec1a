"""Helpers for stage-1 tests: ID files, party configs, and in-process runs over real gRPC."""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from psi.config import PsiConfig, load_psi_config
from psi.observer import WireObserver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_ids(path: Path, ids: Sequence[str], column: str = "pid") -> Path:
    path.write_text(column + "\n" + "\n".join(ids) + "\n", encoding="utf-8")
    return path


def party_doc(
    name: str,
    role: str,
    port: int,
    ids_file: Path,
    workdir: Path,
    *,
    feature_parties: Sequence[str] = (),
    run_id: str = "run-1",
    network: Mapping[str, Any] | None = None,
    **align: Any,
) -> dict[str, Any]:
    net: dict[str, Any] = {"insecure": True, "timeout_s": 10, "wait_s": 30}
    if role == "label":
        net.update(listen=f"127.0.0.1:{port}", feature_parties=list(feature_parties))
    else:
        net.update(peer=f"127.0.0.1:{port}")
    net.update(network or {})
    return {
        "party": {"name": name, "role": role, "run_id": run_id, "workdir": str(workdir)},
        "network": net,
        "align": {"ids_file": str(ids_file), "id_column": "pid", "min_intersection": 1, **align},
    }


@dataclass
class Recorder:
    """A WireObserver that keeps every message."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, *, direction: str, peer: str, step: str, seq: int, payload: bytes) -> None:
        with self.lock:
            self.messages.append(
                {"direction": direction, "peer": peer, "step": step, "seq": seq, "payload": payload}
            )


@dataclass
class Run:
    results: dict[str, Any]
    workdirs: dict[str, Path]
    observers: dict[str, Recorder]

    def rows(self, name: str) -> list[int]:
        return list(pq.read_table(self.workdirs[name] / "aligned.parquet")["row"].to_pylist())


def run_inprocess(
    tmp: Path,
    label_ids: Sequence[str],
    feature_ids: Mapping[str, Sequence[str]],
    *,
    label_align: Mapping[str, Any] | None = None,
    feature_align: Mapping[str, Mapping[str, Any]] | None = None,
    feature_docs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Run:
    """Run a label party and feature parties in threads of this process, over real gRPC."""
    from psi.run import align

    port = free_port()
    docs: dict[str, dict[str, Any]] = {}
    workdirs: dict[str, Path] = {}
    for name, ids, role in [("label", label_ids, "label")] + [
        (n, i, "feature") for n, i in feature_ids.items()
    ]:
        workdirs[name] = tmp / f"w_{name}"
        extra = (
            dict(label_align or {})
            if role == "label"
            else dict((feature_align or {}).get(name, label_align or {}))
        )
        docs[name] = party_doc(
            name,
            role,
            port,
            write_ids(tmp / f"{name}.csv", ids),
            workdirs[name],
            feature_parties=list(feature_ids),
            **extra,
        )
        if feature_docs and name in feature_docs:
            for section, values in feature_docs[name].items():
                docs[name][section].update(values)
    cfgs: dict[str, PsiConfig] = {n: load_psi_config(d, tmp) for n, d in docs.items()}
    results: dict[str, Any] = {}
    observers = {n: Recorder() for n in cfgs}
    listening = threading.Event()

    def go(name: str, observer: WireObserver) -> None:
        try:
            results[name] = align(
                cfgs[name], observer=observer, on_listening=lambda _p: listening.set()
            )
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[name] = exc
        finally:
            listening.set()

    threads = [threading.Thread(target=go, args=("label", observers["label"]))]
    threads[0].start()
    assert listening.wait(30)
    for name in feature_ids:
        threads.append(threading.Thread(target=go, args=(name, observers[name])))
        threads[-1].start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    return Run(results, workdirs, observers)
