"""Alignment's feature party pins the label party's identity in the TLS handshake.

Certificates come from `vfl certs init`: every one chains to the study CA and is valid for
127.0.0.1, so before pinning any party could serve at the label party's address. Now the
feature party accepts only a certificate carrying the label party's name (`peer_name`).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from psi import net
from psi.config import load_psi_config
from psi.run import align
from vfl.certs import init_certs
from vfl.cli import main
from vfl.errors import PeerIdentityError
from vfl.party.launch import write_config

IDS = [f"PAT-{i:04d}" for i in range(40)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    init_certs(out, ["label", "imaging", "genomics"], days=1)
    return out


def _tls(pki: Path, name: str) -> net.TlsFiles:
    return net.TlsFiles(pki / "ca.pem", pki / f"{name}.pem", pki / f"{name}.key")


def _sections(tmp: Path, pki: Path, name: str, address: str, ids: list[str]) -> dict[str, Any]:
    (tmp / f"{name}.csv").write_text("pid\n" + "\n".join(ids) + "\n")
    network: dict[str, Any] = {
        "ca_cert": str(pki / "ca.pem"),
        "cert": str(pki / f"{name}.pem"),
        "key": str(pki / f"{name}.key"),
        "timeout_s": 20,
        "wait_s": 20,
    }
    if name == "label":
        network.update(listen=address, feature_parties=["imaging"])
    else:
        network.update(peer=address, peer_name="label")
    return {
        "party": {
            "name": name,
            "role": "label" if name == "label" else "feature",
            "run_id": "pin-1",
            "workdir": str(tmp / name),
        },
        "network": network,
        "align": {"ids_file": str(tmp / f"{name}.csv"), "id_column": "pid", "min_intersection": 1},
    }


def _rogue(pki: Path, name: str) -> tuple[grpc.Server, str]:
    """A real TLS server presenting `name`'s valid certificate from the study CA."""
    server, port = net.make_server("127.0.0.1:0", _tls(pki, name))
    server.start()
    return server, f"127.0.0.1:{port}"


def test_feature_party_aligns_with_the_label_party_it_pins(tmp_path: Path, pki: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    label = load_psi_config(_sections(tmp_path, pki, "label", address, IDS), tmp_path)
    imaging = load_psi_config(_sections(tmp_path, pki, "imaging", address, IDS[:30]), tmp_path)
    results: dict[str, Any] = {}
    listening = threading.Event()

    def run_label() -> None:
        try:
            results["label"] = align(label, on_listening=lambda _p: listening.set())
        except Exception as exc:  # noqa: BLE001
            results["label"] = exc
            listening.set()

    thread = threading.Thread(target=run_label)
    thread.start()
    assert listening.wait(20)
    results["imaging"] = align(imaging)
    thread.join(30)
    assert results["imaging"]["sizes"]["final"] == 30, results
    assert isinstance(results["label"], dict), results


def test_alignment_refuses_another_partys_certificate_at_the_label_address(
    tmp_path: Path, pki: Path
) -> None:
    server, address = _rogue(pki, "imaging")  # imaging poses as the label party
    try:
        # without pinning the handshake accepts it: the certificate is valid for 127.0.0.1
        unpinned = net.make_channel(address, _tls(pki, "genomics"), server_name="127.0.0.1")
        grpc.channel_ready_future(unpinned).result(timeout=10)
        unpinned.close()
        genomics = load_psi_config(_sections(tmp_path, pki, "genomics", address, IDS), tmp_path)
        t0 = time.monotonic()
        with pytest.raises(PeerIdentityError) as err:
            align(genomics)
        elapsed = time.monotonic() - t0
    finally:
        server.stop(grace=None)
    message = str(err.value)
    assert f"the server at {address} did not present a certificate for label party 'label'" in (
        message
    )
    assert elapsed < 15  # diagnosed at the first failed handshake, not after timeout_s
    assert not (tmp_path / "genomics" / "aligned.parquet").exists()


def test_vfl_align_names_address_and_identity_without_a_traceback(
    tmp_path: Path, pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, address = _rogue(pki, "imaging")
    try:
        config = write_config(
            tmp_path / "genomics.toml", _sections(tmp_path, pki, "genomics", address, IDS)
        )
        with pytest.raises(SystemExit) as exited:
            main(["align", "--config", str(config)])
    finally:
        server.stop(grace=None)
    err = capsys.readouterr().err
    assert exited.value.code == 4  # PeerError
    assert f"error: the server at {address} did not present a certificate" in err
    assert "label party 'label'" in err and "Traceback" not in err
