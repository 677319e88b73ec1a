"""The audit tools on real traffic: a real alignment over real gRPC with mTLS (certificates
from `vfl certs init`), and real engine ciphertexts in the real training protobuf."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np

from protocols import common_pb2, train_pb2
from psi.config import load_psi_config
from psi.run import align
from vfl.audit import (
    PublicKeyRecord,
    ScanIds,
    Transcript,
    read_scan_ids,
    scan,
    unrandomized_ciphertexts,
    verify,
)
from vfl.certs import init_certs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _doc(name: str, role: str, port: int, tmp: Path, ids: list[str]) -> dict[str, Any]:
    ids_file = tmp / f"{name}.csv"
    ids_file.write_text("pid\n" + "".join(f"{i}\n" for i in ids))
    certs = tmp / "certs"
    net: dict[str, Any] = {
        "ca_cert": str(certs / "ca.pem"),
        "cert": str(certs / f"{name}.pem"),
        "key": str(certs / f"{name}.key"),
        "timeout_s": 20,
        "wait_s": 60,
    }
    if role == "label":
        net.update(listen=f"127.0.0.1:{port}", feature_parties=["imaging"])
    else:
        net.update(peer=f"127.0.0.1:{port}")
    return {
        "party": {"name": name, "role": role, "run_id": "run-9", "workdir": str(tmp / name)},
        "network": net,
        "align": {"ids_file": str(ids_file), "id_column": "pid", "min_intersection": 10},
    }


def test_real_alignment_over_mtls_verifies_and_scans_clean(tmp_path: Path) -> None:
    init_certs(tmp_path / "certs", ["label", "imaging"], days=1)
    label_ids = [f"MRN-{i:06d}" for i in range(0, 120)]
    imaging_ids = [f"MRN-{i:06d}" for i in range(40, 160)]
    port = _free_port()
    cfgs = {
        "label": load_psi_config(_doc("label", "label", port, tmp_path, label_ids), tmp_path),
        "imaging": load_psi_config(
            _doc("imaging", "feature", port, tmp_path, imaging_ids), tmp_path
        ),
    }
    results: dict[str, Any] = {}
    listening = threading.Event()

    def run(name: str) -> None:
        path = tmp_path / f"{name}.jsonl"
        try:
            with Transcript(path, run_id="run-9", party=name, capture=True) as transcript:
                results[name] = align(
                    cfgs[name], observer=transcript, on_listening=lambda _p: listening.set()
                )
        except Exception as exc:  # noqa: BLE001 - inspected below
            results[name] = exc
        finally:
            listening.set()

    threads = [threading.Thread(target=run, args=("label",))]
    threads[0].start()
    assert listening.wait(60)
    threads.append(threading.Thread(target=run, args=("imaging",)))
    threads[1].start()
    for t in threads:
        t.join(180)
        assert not t.is_alive()
    assert not isinstance(results["label"], Exception), results["label"]
    assert not isinstance(results["imaging"], Exception), results["imaging"]

    a, b = tmp_path / "imaging.jsonl", tmp_path / "label.jsonl"
    report = verify(a, b)
    assert report.ok, report.findings
    assert report.matched >= 6
    both = read_scan_ids(tmp_path / "label.csv", "pid")
    union = ScanIds("ids", "pid", both.ids + imaging_ids[-40:], list(range(1, 161)))
    scanned = scan([a, b], union)
    assert scanned.ok, scanned.findings
    assert scanned.payloads >= 6

    # the same traffic with one ID planted in a captured payload is caught and named
    planted = tmp_path / "planted.jsonl"
    with Transcript(planted, run_id="run-9", party="imaging", capture=True) as rec:
        env = common_pb2.Envelope(run_id="run-9", sender="imaging", step="align.setup")
        payload = env.SerializeToString() + b"\x52\x0a" + b"MRN-000077"
        rec.on_message(direction="send", peer="label", step="align.setup", seq=99, payload=payload)
    found = scan([a, b, planted], union).findings
    assert [(f.check, f.source, f.seq) for f in found] == [("scan.id-leak", "planted.jsonl", 99)]


def test_real_engine_ciphertexts_in_train_protobuf(tmp_path: Path) -> None:
    from vfl.crypto import PaillierEngine, ProductBudget, generate_keypair, to_wire

    pk, sk = generate_keypair(1024)
    budget = ProductBudget(x_bound=1.0, a_bound=1.0, n_terms=4)
    with PaillierEngine(pk, sk, workers=1) as engine:
        packed = engine.encrypt(np.linspace(-0.5, 0.5, 32).reshape(8, 4), axis=0, budget=budget)
    data, meta = to_wire(packed)
    key = PublicKeyRecord(owner="imaging", fingerprint=meta.fingerprint, n=pk.n)
    assert len(data) % key.width == 0 and not unrandomized_ciphertexts(data, key.n)

    def request(blob: bytes) -> bytes:
        cts = train_pb2.Ciphertexts(fingerprint=meta.fingerprint, rows=8, cols=4, data=blob)
        env = common_pb2.Envelope(run_id="r", sender="imaging", step="train.forward")
        msg = train_pb2.ForwardRequest(env=env, session="s", batch=1, projection=cts)
        return bytes(msg.SerializeToString())

    weak = data[: -key.width] + (1 + 5 * key.n).to_bytes(key.width, "big")
    path = tmp_path / "t.jsonl"
    with Transcript(path, run_id="r", party="imaging", capture=True, keys=[key]) as t:
        for seq, blob in enumerate([data, weak]):
            t.on_message(
                direction="send", peer="label", step="train.forward", seq=seq, payload=request(blob)
            )
    report = scan([path], ScanIds("ids", "id", ["MRN-000001"], [1]))
    count = len(data) // key.width
    assert report.ciphertexts == 2 * count
    found = [(f.check, f.lineno, f.seq) for f in report.findings]
    assert ("scan.unrandomized", 3, 1) in found
    assert all(line == 3 for _, line, _ in found)  # the clean message has no finding
