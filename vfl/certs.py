"""A test certificate authority and one mTLS identity per party (`vfl certs init`).

Every connection between parties is mutually authenticated TLS: the server checks the client's
certificate against the CA and reads the caller's identity from its common name, so the party
name in a config must equal the common name of that party's certificate. This module makes a
throw-away CA for tests, demos and pilots; real deployments point the config at certificates
issued by their own CA, and nothing here is needed.

Every party certificate also carries the party's name as a DNS subject alternative name, so a
feature party can pin the label party: its TLS handshake accepts only a certificate naming the
label party (`psi.net.make_channel`), not merely any certificate from the study CA. Party
names are therefore DNS names (letters, digits, inner hyphens, dot-separated), compared
without regard to case as DNS does, so two names differing only in case are refused.

Threats handled here: private keys are created with mode 0600 and written atomically (a crash
never leaves a half-written key), and existing files are never overwritten unless asked, so a
second `init` cannot silently replace a deployed identity.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from psi.net import server_name_problem
from vfl.errors import ConfigError, InputDataError

__all__ = ["CA_NAME", "IssuedCerts", "identity_from_cert", "init_certs"]

logger = logging.getLogger(__name__)

#: Common name of the generated test CA (never a valid party name, so it cannot be confused).
CA_NAME = "vfl test CA"
_KEY_MODE = 0o600
_CERT_MODE = 0o644


@dataclass(frozen=True)
class IssuedCerts:
    """Where `init_certs` wrote the CA and each party's key and certificate."""

    ca_cert: Path
    ca_key: Path
    party_certs: dict[str, Path]
    party_keys: dict[str, Path]


def init_certs(
    out: Path, parties: Sequence[str], *, days: int = 365, force: bool = False
) -> IssuedCerts:
    """Create a test CA and one EC P-256 key and certificate per party under `out`.

    Files: `ca.pem`, `ca.key`, and `<party>.pem`, `<party>.key` per party. Keys are 0600.
    Each party certificate has common name = party name, SAN DNS = party name (what a feature
    party pins when it connects to the label party), DNS "localhost" and IP 127.0.0.1 and ::1
    (loopback works for tests), and both serverAuth and clientAuth usage, because the label
    party serves while the feature parties call.

    Args:
        out: directory to write into (created if missing).
        parties: party names; DNS names (letters, digits, inner `-`, dot-separated, at most
            64 characters); unique regardless of case.
        days: validity of every certificate, from now.
        force: replace existing files; otherwise any existing target is an error and
            nothing is written.

    Raises:
        ConfigError: bad party names or validity.
        InputDataError: a target file exists (without `force`) or `out` is not writable.
    """
    _check_args(parties, days)
    issued = _planned_paths(out, parties)
    targets = [issued.ca_cert, issued.ca_key, *issued.party_certs.values()]
    targets += list(issued.party_keys.values())
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        names = ", ".join(p.name for p in existing)
        raise InputDataError(f"refusing to overwrite existing file(s) in {out}: {names}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputDataError(f"cannot create certificate directory {out}: {exc}") from exc
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, now, days)
    _write(issued.ca_key, _key_pem(ca_key), _KEY_MODE, force)
    _write(issued.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), _CERT_MODE, force)
    for name in parties:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _party_certificate(name, key, ca_key, ca_cert, now, days)
        _write(issued.party_keys[name], _key_pem(key), _KEY_MODE, force)
        pem = cert.public_bytes(serialization.Encoding.PEM)
        _write(issued.party_certs[name], pem, _CERT_MODE, force)
    logger.info("issued a test CA and %d party certificate(s), valid %d days", len(parties), days)
    return issued


def identity_from_cert(pem: bytes | str) -> str:
    """Return the common name of a PEM certificate: the party identity it certifies.

    Raises:
        InputDataError: not a PEM certificate, or it has no (or several) common names.
    """
    data = pem.encode("ascii", errors="replace") if isinstance(pem, str) else pem
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise InputDataError(f"not a PEM X.509 certificate: {exc}") from exc
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise InputDataError(f"certificate must carry exactly one common name, has {len(names)}")
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")


def _check_args(parties: Sequence[str], days: int) -> None:
    problems = [f"bad party name {p!r}: {why}" for p in parties if (why := server_name_problem(p))]
    if not parties:
        problems.append("at least one party is needed")
    if len({p.lower() for p in parties}) != len(parties):
        problems.append("party names must be unique (regardless of case, as in DNS)")
    if any(p.lower() in ("ca", CA_NAME.lower()) for p in parties):
        problems.append("'ca' is reserved for the certificate authority's files")
    if not 1 <= days <= 3650:
        problems.append(f"days must be between 1 and 3650, got {days}")
    if problems:
        raise ConfigError(problems, source="certs init")


def _planned_paths(out: Path, parties: Sequence[str]) -> IssuedCerts:
    return IssuedCerts(
        ca_cert=out / "ca.pem",
        ca_key=out / "ca.key",
        party_certs={p: out / f"{p}.pem" for p in parties},
        party_keys={p: out / f"{p}.key" for p in parties},
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, now: dt.datetime, days: int
) -> x509.Certificate:
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME))
        .issuer_name(_name(CA_NAME))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def _party_certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: dt.datetime,
    days: int,
) -> x509.Certificate:
    dns = dict.fromkeys([name.lower(), "localhost"])  # the party's name first, once
    san = x509.SubjectAlternativeName(
        [
            *(x509.DNSName(n) for n in dns),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(), critical=True)
        .add_extension(eku, critical=False)
        .add_extension(san, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    return builder.sign(ca_key, hashes.SHA256())


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int, force: bool) -> None:
    """Write `data` to `path` atomically with `mode` set before any byte lands.

    The temporary file is created 0600 in the target directory, fsynced, then moved into
    place: with `force` by rename (replacing), otherwise by hard link, which fails if the
    target appeared meanwhile, so a concurrent writer is never clobbered.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError as exc:
        raise InputDataError(f"refusing to overwrite existing file {path}") from exc
    except OSError as exc:
        raise InputDataError(f"cannot write {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
