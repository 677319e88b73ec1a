"""Commutative ECDH encryption over P-256, through openmined-psi.

openmined-psi objects are not thread-safe (one object used from two threads aborts the
process), so every thread builds its own client/server objects from the same key bytes. The
C++ code releases the GIL, so threads give real parallelism.

All operations below are the library's own: `client.CreateRequest` computes H(x)^k in input
order, `server.ProcessRequest` raises given points to k and keeps their order. Stripping a key
is a server keyed by its inverse modulo the group order.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import private_set_intersection.python as _psi
from google.protobuf.message import DecodeError

from psi.errors import ProtocolViolationError

__all__ = [
    "GROUP_ORDER",
    "KEY_BYTES",
    "Ecdh",
    "inverse_key",
    "new_key",
    "parse_points",
    "parse_setup",
    "raw_setup",
    "response",
]

#: Order of the P-256 group (openmined-psi's curve).
GROUP_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
KEY_BYTES = 32


def new_key() -> bytes:
    """Draw a fresh secret exponent (32 bytes, big endian); never send it anywhere."""
    key: bytes = _psi.client.CreateWithNewKey(True).GetPrivateKeyBytes()
    return key


def inverse_key(key: bytes) -> bytes:
    """Return k^-1 mod the group order, encoded like a key, so (P^k)^(k^-1) = P."""
    inv = pow(int.from_bytes(key, "big"), -1, GROUP_ORDER)
    return inv.to_bytes(KEY_BYTES, "big")


def raw_setup(points: Sequence[bytes]) -> bytes:
    """Serialize points as an openmined-psi RAW `ServerSetup` (sorted, as the library does)."""
    setup = _psi.ServerSetup()
    setup.raw.encrypted_elements.extend(sorted(points))
    data: bytes = setup.SerializeToString()
    return data


def response(points: Sequence[bytes]) -> bytes:
    """Serialize points, order kept, as an openmined-psi `Response`."""
    resp = _psi.Response()
    resp.encrypted_elements.extend(points)
    data: bytes = resp.SerializeToString()
    return data


def parse_setup(data: bytes) -> list[bytes]:
    """Return the points of a RAW `ServerSetup`; a malformed message is a protocol violation."""
    setup = _psi.ServerSetup()
    try:
        setup.ParseFromString(data)
    except DecodeError as exc:
        raise ProtocolViolationError("malformed ServerSetup") from exc
    if setup.WhichOneof("data_structure") not in (None, "raw"):
        raise ProtocolViolationError("ServerSetup must use the RAW data structure")
    return list(setup.raw.encrypted_elements)


def _parse(cls: Any, data: bytes, what: str) -> list[bytes]:
    msg = cls()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise ProtocolViolationError(f"malformed {what}") from exc
    return list(msg.encrypted_elements)


def parse_points(data: bytes, what: str = "Request") -> list[bytes]:
    """Return the points of a serialized openmined-psi `Request` or `Response`."""
    return _parse(_psi.Request if what == "Request" else _psi.Response, data, what)


class Ecdh:
    """One secret exponent k, usable from any number of threads."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("ECDH keys are 32 bytes")
        self._key = key
        self._local = threading.local()

    def _client(self) -> Any:
        obj = getattr(self._local, "client", None)
        if obj is None:
            obj = self._local.client = _psi.client.CreateFromKey(self._key, True)
        return obj

    def _server(self) -> Any:
        obj = getattr(self._local, "server", None)
        if obj is None:
            obj = self._local.server = _psi.server.CreateFromKey(self._key, True)
        return obj

    def hash_encrypt(self, items: Sequence[bytes]) -> list[bytes]:
        """Return H(x)^k for each item, in input order (compressed points)."""
        return list(self._client().CreateRequest(list(items)).encrypted_elements)

    def request(self, items: Sequence[bytes]) -> bytes:
        """Return a serialized openmined-psi `Request` holding H(x)^k in input order."""
        data: bytes = self._client().CreateRequest(list(items)).SerializeToString()
        return data

    def raise_points(self, points: Sequence[bytes]) -> list[bytes]:
        """Return P^k for each point, in input order.

        Raises:
            ProtocolViolationError: a point is not on the curve.
        """
        req = _psi.Request(reveal_intersection=True)
        req.encrypted_elements.extend(points)
        try:
            resp = self._server().ProcessRequest(req)
        except RuntimeError as exc:
            raise ProtocolViolationError("received bytes are not valid curve points") from exc
        return list(resp.encrypted_elements)
