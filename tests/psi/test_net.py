"""gRPC plumbing: error mapping both ways, unreachable peers, mutual TLS with identity checks."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psi_helpers import free_port, party_doc, write_ids

from psi import net
from psi.config import load_psi_config
from psi.errors import (
    AlignmentError,
    PeerIdentityError,
    PeerRefusedError,
    PeerTimeoutError,
    PeerUnreachableError,
    ProtocolViolationError,
)


class FakeRpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str = "why") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.UNAVAILABLE, PeerUnreachableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, PeerTimeoutError),
        (grpc.StatusCode.FAILED_PRECONDITION, PeerRefusedError),
        (grpc.StatusCode.PERMISSION_DENIED, PeerRefusedError),
        (grpc.StatusCode.UNAUTHENTICATED, PeerRefusedError),
        (grpc.StatusCode.INVALID_ARGUMENT, ProtocolViolationError),
        (grpc.StatusCode.ABORTED, AlignmentError),
    ],
)
def test_status_codes_map_to_domain_errors_naming_the_peer(
    code: grpc.StatusCode, cls: type
) -> None:
    err = net.error_from_rpc(FakeRpcError(code), "10.0.0.1:5", 7)  # type: ignore[arg-type]
    assert type(err) is cls and "10.0.0.1:5" in str(err)


def test_unreachable_peer_names_address_and_timeout() -> None:
    port = free_port()  # nothing listens there
    channel = net.make_channel(f"127.0.0.1:{port}", None, server_name="label")
    with pytest.raises(PeerUnreachableError, match=rf"127.0.0.1:{port} within 0.5 s"):
        net.wait_ready(channel, f"127.0.0.1:{port}", 0.5)
    channel.close()


def _serve(handler: grpc.GenericRpcHandler) -> tuple[grpc.Server, str]:
    server, port = net.make_server("127.0.0.1:0", None)
    server.add_generic_rpc_handlers((handler,))
    server.start()
    return server, f"127.0.0.1:{port}"


def test_malformed_request_is_invalid_argument_and_the_server_stays_up() -> None:
    from protocols import common_pb2, train_pb2

    seen: list[str] = []

    def echo(request: train_pb2.Ack, context: grpc.ServicerContext) -> train_pb2.Ack:
        seen.append(request.env.run_id)
        return request

    handler = net.service_handler("t.T", {"Echo": (echo, train_pb2.Ack)})
    server, address = _serve(handler)
    try:
        with grpc.insecure_channel(address) as channel:
            raw = channel.unary_unary("/t.T/Echo")
            with pytest.raises(grpc.RpcError) as info:
                raw(b"\xff\xff\xff", timeout=5)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert info.value.details() == "malformed Ack"
            good = train_pb2.Ack(env=common_pb2.Envelope(run_id="r1")).SerializeToString()
            assert train_pb2.Ack.FromString(raw(good, timeout=5)).env.run_id == "r1"
        assert seen == ["r1"]
    finally:
        server.stop(None)


def test_malformed_reply_is_a_protocol_violation_naming_the_peer() -> None:
    from protocols import common_pb2, train_pb2

    def garbage(request: bytes, context: grpc.ServicerContext) -> bytes:
        return b"\xff\xff\xff"

    handler = grpc.method_handlers_generic_handler(
        "t.T", {"Echo": grpc.unary_unary_rpc_method_handler(garbage)}
    )
    server, address = _serve(handler)
    try:
        with grpc.insecure_channel(address) as channel:
            client = net.RpcClient(channel, "t.T", address, 5.0, retries=0)
            with pytest.raises(ProtocolViolationError, match=rf"{address} sent a malformed"):
                request = train_pb2.Ack(env=common_pb2.Envelope(run_id="r"))
                client.call("Echo", request, train_pb2.Ack)
    finally:
        server.stop(None)


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    ca: bool,
    name_san: bool = True,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san: list[x509.GeneralName] = [x509.DNSName(name)] if name_san else []
        san += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and certificates for 'label', 'imaging' and 'genomics', made with `cryptography`.

    As a study's own PKI must, each certificate names its party as a DNS SAN; `old-label`
    is a certificate for 'label' without it (only localhost and 127.0.0.1).
    """
    out = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = _cert("test CA", ca_key, ca_name, ca_key, ca=True)
    (out / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name in ("label", "imaging", "genomics", "old-label"):
        key = ec.generate_private_key(ec.SECP256R1())
        cn = "label" if name == "old-label" else name
        cert = _cert(cn, key, ca_name, ca_key, ca=False, name_san=name != "old-label")
        (out / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (out / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return out


def test_mutual_tls_alignment_and_certificate_identity_check(tmp_path: Path, pki: Path) -> None:
    """A feature party aligns over mTLS; one presenting another party's certificate is refused."""
    from psi.run import align

    port = free_port()
    ids = [f"PAT-{i:04d}" for i in range(40)]

    def tls(name: str) -> dict[str, object]:
        return {
            "insecure": False,
            "ca_cert": str(pki / "ca.pem"),
            "cert": str(pki / f"{name}.pem"),
            "key": str(pki / f"{name}.key"),
        }

    label = load_psi_config(
        party_doc(
            "label",
            "label",
            port,
            write_ids(tmp_path / "l.csv", ids),
            tmp_path / "wl",
            feature_parties=["imaging", "genomics"],
            network=tls("label"),
        ),
        tmp_path,
    )
    imaging = load_psi_config(
        party_doc(
            "imaging",
            "feature",
            port,
            write_ids(tmp_path / "i.csv", ids[:30]),
            tmp_path / "wi",
            network=tls("imaging"),
        ),
        tmp_path,
    )
    genomics = load_psi_config(
        party_doc(
            "genomics",
            "feature",
            port,
            write_ids(tmp_path / "g.csv", ids),
            tmp_path / "wg",
            network=tls("genomics"),
        ),
        tmp_path,
    )
    # an impostor: claims to be "genomics" but presents the imaging certificate
    impostor = load_psi_config(
        party_doc(
            "genomics",
            "feature",
            port,
            write_ids(tmp_path / "x.csv", ids),
            tmp_path / "wx",
            network=tls("imaging"),
        ),
        tmp_path,
    )
    results: dict[str, object] = {}
    ready = threading.Event()

    def go(name: str, cfg: object) -> None:
        try:
            results[name] = align(cfg, on_listening=lambda _p: ready.set())  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001
            results[name] = exc
        ready.set()

    threads = [threading.Thread(target=go, args=("label", label))]
    threads[0].start()
    assert ready.wait(20)
    go("impostor", impostor)
    assert isinstance(results["impostor"], PeerRefusedError)
    assert "certificate is for 'imaging'" in str(results["impostor"])
    threads += [
        threading.Thread(target=go, args=(n, c))
        for n, c in (("imaging", imaging), ("genomics", genomics))
    ]
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(results[n], dict) for n in ("label", "imaging", "genomics")), results
    assert results["imaging"]["sizes"]["final"] == 30  # type: ignore[index]


def test_label_certificate_without_its_name_is_refused_with_a_clear_message(pki: Path) -> None:
    """A label party certificate from the study CA that lacks its party name as a DNS SAN
    (as issued before pinning) is refused by the feature party, naming address and identity."""
    files = {
        n: net.TlsFiles(pki / "ca.pem", pki / f"{n}.pem", pki / f"{n}.key")
        for n in ("label", "imaging", "old-label")
    }
    server, port = net.make_server("127.0.0.1:0", files["old-label"])
    server.start()
    address = f"127.0.0.1:{port}"
    try:
        with pytest.raises(PeerIdentityError) as err:
            net.connect(address, files["imaging"], server_name="label", timeout_s=20)
        message = str(err.value)
        assert f"server at {address}" in message and "label party 'label'" in message
        assert "lacks the DNS name 'label'" in message
        good, good_port = net.make_server("127.0.0.1:0", files["label"])
        good.start()
        try:
            net.connect(
                f"127.0.0.1:{good_port}", files["imaging"], server_name="label", timeout_s=20
            ).close()
        finally:
            good.stop(grace=None)
    finally:
        server.stop(grace=None)
