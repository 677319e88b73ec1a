"""gRPC plumbing shared by both stages: credentials, limits, deadlines, retries, error mapping.

- Mutual TLS by default: both sides present certificates from the study CA, and the server
  checks that the client's certificate common name equals the party name it claims. The client
  pins the server: the handshake accepts only a certificate that names the label party (a DNS
  subject alternative name equal to its party name), so another holder of a study certificate
  cannot stand in for the label party at its address. Insecure channels exist for tests on
  loopback only and log a loud warning.
- Explicit message-size limits on both ends, a deadline on every call, bounded retries with
  exponential backoff for UNAVAILABLE.
- Errors cross the wire in one direction each, in one place: `abort` maps a domain error to a
  status code on the server, `error_from_rpc` maps a status back to a domain error on the client.
- Every message is serialized through a `WireObserver`, so an audit trail sees the exact bytes.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

import grpc
from google.protobuf.message import DecodeError, Message

from psi.errors import (
    AlignmentError,
    PeerError,
    PeerIdentityError,
    PeerRefusedError,
    PeerTimeoutError,
    PeerUnreachableError,
    ProtocolViolationError,
    VflError,
)
from psi.observer import NullObserver, WireObserver

__all__ = [
    "MAX_MESSAGE_BYTES",
    "RpcClient",
    "TlsFiles",
    "WireObserver",
    "abort",
    "connect",
    "error_from_rpc",
    "make_channel",
    "server_name_problem",
    "make_server",
    "peer_common_name",
    "service_handler",
]

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
M = TypeVar("M", bound=Message)
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$")

#: Domain error -> status code (server side); the most specific class listed wins.
_STATUS: dict[type[BaseException], grpc.StatusCode] = {
    PeerRefusedError: grpc.StatusCode.FAILED_PRECONDITION,
    ProtocolViolationError: grpc.StatusCode.INVALID_ARGUMENT,
    AlignmentError: grpc.StatusCode.ABORTED,
    PeerTimeoutError: grpc.StatusCode.DEADLINE_EXCEEDED,
}


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for mutual TLS: the study CA, this party's certificate and its key."""

    ca_cert: Path
    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes, bytes]:
        """Return (ca, cert, key) PEM bytes; missing files are a `PeerError` naming the path."""
        out = []
        for path in (self.ca_cert, self.cert, self.key):
            try:
                out.append(path.read_bytes())
            except OSError as exc:
                raise PeerError(f"cannot read TLS file {path}: {exc.strerror}") from exc
        return out[0], out[1], out[2]


def _warn_insecure(where: str) -> None:
    logger.warning(
        "INSECURE %s: no TLS, no party authentication; every byte crosses the network in clear",
        where,
    )


def make_server(listen: str, tls: TlsFiles | None, max_workers: int = 8) -> tuple[grpc.Server, int]:
    """Create a gRPC server bound to `listen` (host:port, port 0 picks one); returns the port.

    Raises:
        PeerError: the address cannot be bound.
    """
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=_OPTIONS)
    try:
        if tls is None:
            _warn_insecure(f"server on {listen}")
            port = server.add_insecure_port(listen)
        else:
            ca, cert, key = tls.read()
            creds = grpc.ssl_server_credentials([(key, cert)], ca, require_client_auth=True)
            port = server.add_secure_port(listen, creds)
    except RuntimeError as exc:
        raise PeerError(f"cannot listen on {listen}: {exc}") from exc
    if port == 0:
        raise PeerError(f"cannot listen on {listen} (address in use or not local?)")
    return server, port


def server_name_problem(name: str) -> str | None:
    """Why `name` cannot be a label party's identity in its certificate, or None if it can.

    The label party's name is matched against a DNS subject alternative name of its
    certificate, so it must be a DNS name: labels of letters, digits and inner hyphens, joined
    by dots, at most 64 characters (the common-name limit), and not an IP address.
    """
    if len(name) > 64 or not _DNS_NAME.match(name):
        return "must be a DNS name: letters, digits and '-', dot-separated, at most 64 characters"
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return None
    return "must be a DNS name, not an IP address"


def make_channel(address: str, tls: TlsFiles | None, *, server_name: str) -> grpc.Channel:
    """Create a channel to `address`, where the party named `server_name` must serve.

    Under TLS the server's certificate must chain to the study CA and carry `server_name` as a
    DNS subject alternative name (`grpc.ssl_target_name_override`), whatever host `address`
    names: a party holding another certificate from the same CA cannot pose as the label
    party, because the handshake itself refuses it. Reply envelopes are checked for the name
    too, but a rogue server writes its own envelopes, so they alone would not stop it.
    """
    if tls is None:
        _warn_insecure(f"channel to {address}")
        return grpc.insecure_channel(address, options=_OPTIONS)
    ca, cert, key = tls.read()
    creds = grpc.ssl_channel_credentials(ca, key, cert)
    options = [*_OPTIONS, ("grpc.ssl_target_name_override", server_name)]
    return grpc.secure_channel(address, creds, options=options)


def connect(
    address: str, tls: TlsFiles | None, *, server_name: str, timeout_s: float
) -> grpc.Channel:
    """Open a channel to the party `server_name` at `address` and wait until it connects.

    A failed TLS handshake is diagnosed at once instead of waiting out `timeout_s`: a server
    whose certificate does not verify for `server_name` is not the label party, and waiting
    would not change that.

    Raises:
        PeerIdentityError: the server at `address` presented a certificate that does not
            verify against the study CA for `server_name`.
        PeerUnreachableError: not connected within `timeout_s`.
    """
    channel = make_channel(address, tls, server_name=server_name)
    check = None if tls is None else _identity_check(address, tls, server_name)
    try:
        _wait(channel, address, timeout_s, check)
    except BaseException:
        channel.close()
        raise
    return channel


def wait_ready(channel: grpc.Channel, address: str, timeout_s: float) -> None:
    """Block until the channel connects.

    Raises:
        PeerUnreachableError: not connected within `timeout_s`, naming address and timeout.
    """
    _wait(channel, address, timeout_s, None)


def _wait(
    channel: grpc.Channel, address: str, timeout_s: float, check: Callable[[], None] | None
) -> None:
    """Wait for READY; after each failed connection attempt, run `check` (which may raise)."""
    wake = threading.Event()
    ready = grpc.channel_ready_future(channel)
    ready.add_done_callback(lambda _: wake.set())

    def watch(state: grpc.ChannelConnectivity) -> None:
        if state is grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            wake.set()

    deadline = time.monotonic() + timeout_s
    if check is not None:
        channel.subscribe(watch)
    try:
        while not ready.done():
            if not wake.wait(max(0.0, deadline - time.monotonic())):
                raise PeerUnreachableError(
                    f"peer unreachable: no connection to {address} within {timeout_s:g} s "
                    "(is the label party running and listening there? TLS certificates right?)"
                )
            wake.clear()
            if check is not None and not ready.done():
                check()
    finally:
        if check is not None:
            channel.unsubscribe(watch)
        ready.cancel()


def _identity_check(address: str, tls: TlsFiles, server_name: str) -> Callable[[], None]:
    ca = tls.read()[0]

    def check() -> None:
        problem = _server_certificate_problem(address, ca, server_name)
        if problem is not None:
            raise PeerIdentityError(
                f"the server at {address} did not present a certificate for label party "
                f"{server_name!r} from the study CA ({problem}); refusing to connect. Another "
                f"party, or a server that is not the label party, may be listening there; or "
                f"the label party's certificate lacks the DNS name {server_name!r}"
            )

    return check


def _server_certificate_problem(address: str, ca: bytes, server_name: str) -> str | None:
    """Why the server at `address` fails TLS verification for `server_name`, or None.

    A diagnostic only (gRPC's own handshake is what refuses the server): one TLS handshake
    without a client certificate, so nothing of ours is shown to a server we do not trust.
    None when it verifies, or when the address cannot be reached or speaks no TLS.
    """
    host, _, port = address.rpartition(":")
    try:
        context = ssl.create_default_context(cadata=ca.decode("ascii", errors="replace"))
        context.set_alpn_protocols(["h2"])
        with (
            socket.create_connection((host.strip("[]"), int(port)), timeout=5.0) as sock,
            context.wrap_socket(sock, server_hostname=server_name),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc)
    except (OSError, ValueError):
        return None


def peer_common_name(context: grpc.ServicerContext) -> str | None:
    """The common name of the client's verified certificate, or None on insecure channels."""
    names = context.auth_context().get("x509_common_name") or []
    return names[0].decode() if names else None


def abort(context: grpc.ServicerContext, exc: VflError) -> NoReturn:
    """Abort the current call with the status code for a domain error (the one server map)."""
    code = grpc.StatusCode.INTERNAL
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            code = _STATUS[cls]
            break
    context.abort(code, str(exc))
    raise AssertionError("unreachable")  # pragma: no cover  (context.abort raises)


def error_from_rpc(exc: grpc.RpcError, address: str, timeout_s: float) -> VflError:
    """Map a failed call to a domain error (the one client map)."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    if code == grpc.StatusCode.UNAVAILABLE:
        return PeerUnreachableError(
            f"peer unreachable at {address} (timeout {timeout_s:g} s): {detail}"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return PeerTimeoutError(f"peer at {address} did not answer within {timeout_s:g} s")
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
        return PeerRefusedError(f"peer at {address} refused: {detail}")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return PeerRefusedError(f"peer at {address} refused our identity: {detail}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ProtocolViolationError(f"peer at {address} rejected a message: {detail}")
    if code == grpc.StatusCode.ABORTED:
        return AlignmentError(f"peer at {address} aborted the run: {detail}")
    return PeerError(f"call to {address} failed ({code.name}): {detail}")


def _observed_serializer(observer: WireObserver, direction: str) -> Callable[[Message], bytes]:
    def serialize(msg: Message) -> bytes:
        data: bytes = msg.SerializeToString()
        env: Any = cast(Any, msg).env
        peer = env.recipient if direction == "send" else env.sender
        observer.on_message(direction="send", peer=peer, step=env.step, seq=env.seq, payload=data)
        return data

    return serialize


def _observed_parser(observer: WireObserver, cls: type[M]) -> Callable[[bytes], M]:
    def parse(data: bytes) -> M:
        msg = cls()
        try:
            msg.ParseFromString(data)
        except DecodeError as exc:
            raise ProtocolViolationError(f"malformed {cls.__name__}") from exc
        env: Any = cast(Any, msg).env
        observer.on_message(
            direction="recv", peer=env.sender, step=env.step, seq=env.seq, payload=data
        )
        return msg

    return parse


Behaviour = Callable[[Any, grpc.ServicerContext], Message]


def _parsing(behaviour: Behaviour, parse: Callable[[bytes], Message]) -> Behaviour:
    """Parse the request inside the call, so malformed bytes get INVALID_ARGUMENT.

    (A gRPC request deserializer that raises makes gRPC answer INTERNAL, "Exception
    deserializing request!", which tells the sender nothing.)
    """

    def handle(data: bytes, context: grpc.ServicerContext) -> Message:
        try:
            request = parse(data)
        except ProtocolViolationError as exc:
            logger.warning("refused a request from %s: %s", context.peer(), exc)
            abort(context, exc)
        return behaviour(request, context)

    return handle


def service_handler(
    service: str,
    methods: Mapping[str, tuple[Behaviour, type[Message]]],
    observer: WireObserver | None = None,
) -> grpc.GenericRpcHandler:
    """Build a handler for `service` whose unary methods are observed on the wire.

    Each method receives the raw request bytes and parses them itself: a malformed request
    is answered INVALID_ARGUMENT ("malformed <message>") and logged, never INTERNAL.

    Args:
        service: full service name, e.g. "vfl.align.Alignment".
        methods: method name -> (behaviour, request message class).
        observer: sees every request received and every reply sent.
    """
    obs = observer or NullObserver()
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            _parsing(behaviour, _observed_parser(obs, request_cls)),
            response_serializer=_observed_serializer(obs, "send"),
        )
        for name, (behaviour, request_cls) in methods.items()
    }
    return grpc.method_handlers_generic_handler(service, handlers)


class RpcClient:
    """Unary calls to one service over one channel, with deadlines, retries and observation."""

    def __init__(
        self,
        channel: grpc.Channel,
        service: str,
        address: str,
        timeout_s: float,
        observer: WireObserver | None = None,
        retries: int = 4,
    ) -> None:
        self._channel, self._service, self.address = channel, service, address
        self.timeout_s, self._retries = timeout_s, retries
        self._observer = observer or NullObserver()

    def call(
        self, method: str, request: Message, reply_cls: type[M], timeout_s: float | None = None
    ) -> M:
        """Send `request` to `method` and return the reply.

        Raises:
            PeerError: (or a subclass) mapped from the failed call by `error_from_rpc`.
            ProtocolViolationError: the peer rejected our message, or sent a malformed one.
        """
        timeout = timeout_s or self.timeout_s
        # Raw reply bytes, parsed here: a malformed reply is a ProtocolViolationError naming
        # the peer, not gRPC's "Exception deserializing response!".
        stub = self._channel.unary_unary(
            f"/{self._service}/{method}",
            request_serializer=_observed_serializer(self._observer, "send"),
        )
        parse = _observed_parser(self._observer, reply_cls)
        delay = 0.2
        for attempt in range(self._retries + 1):
            try:
                data: bytes = stub(request, timeout=timeout)
            except grpc.RpcError as exc:
                retry = isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.UNAVAILABLE
                if not retry or attempt == self._retries:
                    raise error_from_rpc(exc, self.address, timeout) from exc
                logger.info("%s unavailable; retry %d in %.1f s", method, attempt + 1, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                return parse(data)
            except ProtocolViolationError as exc:
                raise ProtocolViolationError(f"peer at {self.address} sent a {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover
