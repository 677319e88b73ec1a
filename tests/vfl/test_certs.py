"""Test CA and party certificates: files, permissions, and a real mTLS gRPC handshake."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from vfl.certs import CA_NAME, identity_from_cert, init_certs
from vfl.cli import cli
from vfl.errors import ConfigError, InputDataError

_SERVICE = "vfltest.Whoami"
_METHOD = f"/{_SERVICE}/Who"


def _identity(body: bytes, context: grpc.ServicerContext) -> bytes:
    """Answer with the caller's certificate common name, as the real servers will."""
    names = context.auth_context().get("x509_common_name", [])
    return b",".join(names)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    init_certs(out, ["label", "imaging", "genomics"], days=2)
    init_certs(out / "other", ["imaging"], days=2)
    return out


@pytest.fixture(scope="module")
def server(pki: Path) -> Iterator[int]:
    creds = grpc.ssl_server_credentials(
        [((pki / "label.key").read_bytes(), (pki / "label.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes(),
        require_client_auth=True,
    )
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        _SERVICE, {"Who": grpc.unary_unary_rpc_method_handler(_identity)}
    )
    srv.add_generic_rpc_handlers((handler,))
    port = srv.add_secure_port("localhost:0", creds)
    srv.start()
    try:
        yield port
    finally:
        srv.stop(grace=None)


def _call(port: int, ca: Path, key: Path, cert: Path, host: str = "localhost") -> bytes:
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )
    with grpc.secure_channel(f"{host}:{port}", creds) as channel:
        who = channel.unary_unary(_METHOD)
        result = who(b"", timeout=10)
        assert isinstance(result, bytes)
        return result


def test_files_and_permissions(pki: Path) -> None:
    for name in ("ca", "label", "imaging", "genomics"):
        assert stat.S_IMODE((pki / f"{name}.key").stat().st_mode) == 0o600
        assert stat.S_IMODE((pki / f"{name}.pem").stat().st_mode) == 0o644
    assert not [p for p in pki.iterdir() if p.name.startswith(".")]


def test_certificate_contents(pki: Path) -> None:
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((pki / "imaging.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["imaging", "localhost"]
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
    assert identity_from_cert((pki / "imaging.pem").read_bytes()) == "imaging"
    assert identity_from_cert((pki / "ca.pem").read_text()) == CA_NAME


def test_mtls_caller_identity_from_auth_context(pki: Path, server: int) -> None:
    ca = pki / "ca.pem"
    assert _call(server, ca, pki / "imaging.key", pki / "imaging.pem") == b"imaging"
    assert _call(server, ca, pki / "genomics.key", pki / "genomics.pem") == b"genomics"
    assert _call(server, ca, pki / "genomics.key", pki / "genomics.pem", "127.0.0.1") == (
        b"genomics"
    )


def test_mtls_refuses_cert_from_another_ca(pki: Path, server: int) -> None:
    other = pki / "other"
    with pytest.raises(grpc.RpcError) as info:
        _call(server, pki / "ca.pem", other / "imaging.key", other / "imaging.pem")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_client_without_cert(pki: Path, server: int) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    with grpc.secure_channel(f"localhost:{server}", creds) as channel:
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(_METHOD)(b"", timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_client_refuses_server_from_another_ca(pki: Path, server: int) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _call(server, pki / "other" / "ca.pem", pki / "imaging.key", pki / "imaging.pem")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_refuses_overwrite_unless_forced(tmp_path: Path) -> None:
    init_certs(tmp_path, ["a", "b"])
    before = (tmp_path / "a.key").read_bytes()
    with pytest.raises(InputDataError, match="refusing to overwrite"):
        init_certs(tmp_path, ["a", "c"])
    assert not (tmp_path / "c.key").exists()
    assert (tmp_path / "a.key").read_bytes() == before
    init_certs(tmp_path, ["a"], force=True)
    assert (tmp_path / "a.key").read_bytes() != before
    assert stat.S_IMODE((tmp_path / "a.key").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("parties", "days"),
    [
        ([], 10),
        (["a", "a"], 10),
        (["Label", "label"], 10),  # one DNS name
        (["../x"], 10),
        (["my_lab"], 10),  # not a DNS name: could not be pinned
        (["-a"], 10),
        (["127.0.0.1"], 10),
        (["a" * 65], 10),
        (["ca"], 10),
        (["a"], 0),
    ],
)
def test_bad_arguments(tmp_path: Path, parties: list[str], days: int) -> None:
    with pytest.raises(ConfigError):
        init_certs(tmp_path, parties, days=days)
    assert list(tmp_path.iterdir()) == []


def test_identity_from_garbage() -> None:
    with pytest.raises(InputDataError):
        identity_from_cert(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def test_cli_init(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "certs"
    args = ["certs", "init", "--out", str(out), "--parties", "label,imaging", "--format", "json"]
    result = runner.invoke(cli, [*args, "--days", "30"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc["parties"]) == {"label", "imaging"}
    assert identity_from_cert(Path(doc["parties"]["imaging"]["cert"]).read_bytes()) == "imaging"
    again = runner.invoke(cli, args)
    assert isinstance(again.exception, InputDataError)
