"""The transcript line format: canonical JSON, the hash chain, and a strict line parser.

A transcript is UTF-8 JSON Lines. Every line is one object in canonical form (keys sorted, no
spaces, ASCII only) with these fields in common:

- `kind`: "header" (line 1 only), "key" (a Paillier public key), "msg" (one wire message) or
  "resume" (the writer reopened the file after a restart);
- `index`: position in the chain, 0 for the header, +1 per line;
- `prev`: the previous line's `hash` (64 zeros for the header);
- `hash`: SHA-256 over the canonical JSON of every other field of this line.

Kind-specific fields: header `version`, `run_id`, `party`, `time`, `capture`, `keys`; key
`owner`, `fingerprint`, `n` (hex), `time`; msg `seq`, `time`, `direction`, `peer`, `step`,
`size`, `sha256` and, when capture is on, `payload` (base64); resume `time`,
`truncated_bytes`. Times are ISO-8601 UTC strings, never floats, so the canonical form is exact.

The chain makes a naive edit, drop or reorder visible; a party that rewrites its whole chain is
caught by comparing with the peer's transcript (`verify`), whose copy it cannot touch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vfl.errors import AuditError

__all__ = [
    "GENESIS",
    "VERSION",
    "Entry",
    "Message",
    "PublicKeyRecord",
    "canonical",
    "line_hash",
    "parse_line",
    "seal",
]

VERSION = 1
GENESIS = "0" * 64
_HEX = frozenset("0123456789abcdef")
_KINDS: dict[str, dict[str, type]] = {
    "header": {"version": int, "run_id": str, "party": str, "time": str, "capture": bool},
    "key": {"owner": str, "fingerprint": str, "n": str, "time": str},
    "msg": {
        "seq": int,
        "time": str,
        "direction": str,
        "peer": str,
        "step": str,
        "size": int,
        "sha256": str,
    },
    "resume": {"time": str, "truncated_bytes": int},
}
_OPTIONAL: dict[str, dict[str, type]] = {"header": {"keys": list}, "msg": {"payload": str}}
_COMMON: dict[str, type] = {"kind": str, "index": int, "prev": str, "hash": str}


@dataclass(frozen=True)
class PublicKeyRecord:
    """A Paillier public key as the transcript records it, so a scan can test ciphertexts.

    Attributes:
        owner: the party that holds the matching secret key.
        fingerprint: the engine's key fingerprint (hex), as carried next to ciphertexts.
        n: the modulus.
    """

    owner: str
    fingerprint: str
    n: int

    @property
    def width(self) -> int:
        """Bytes of one ciphertext under this key (fixed-width big-endian, mod n²)."""
        return ((self.n * self.n).bit_length() + 7) // 8

    def to_json(self) -> dict[str, str]:
        """Return the JSON form stored in the header or a key line."""
        return {"owner": self.owner, "fingerprint": self.fingerprint, "n": format(self.n, "x")}


@dataclass(frozen=True)
class Message:
    """One recorded wire message (a `msg` line)."""

    lineno: int
    index: int
    seq: int
    time: str
    direction: str
    peer: str
    step: str
    size: int
    sha256: str
    payload: bytes | None

    @property
    def payload_matches(self) -> bool | None:
        """Whether the captured payload has the recorded size and digest (None: not captured)."""
        if self.payload is None:
            return None
        digest = hashlib.sha256(self.payload).hexdigest()
        return len(self.payload) == self.size and digest == self.sha256


@dataclass(frozen=True)
class Entry:
    """One parsed transcript line.

    Attributes:
        lineno: 1-based line number in the file.
        kind: "header", "key", "msg" or "resume".
        index: chain position the line claims.
        prev: the previous line's hash, as recorded.
        hash: this line's hash, as recorded.
        hash_ok: whether `hash` equals the hash of the line's other fields.
        canonical: whether the raw line is exactly the canonical serialisation.
        body: every field of the line.
        message: the message, for `msg` lines.
        keys: public keys recorded by this line (header or key lines).
    """

    lineno: int
    kind: str
    index: int
    prev: str
    hash: str
    hash_ok: bool
    canonical: bool
    body: Mapping[str, Any]
    message: Message | None
    keys: tuple[PublicKeyRecord, ...]


def canonical(obj: Mapping[str, Any]) -> bytes:
    """Serialise `obj` canonically: sorted keys, no whitespace, ASCII escapes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def line_hash(obj: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of every field except `hash`."""
    fields = {k: v for k, v in obj.items() if k != "hash"}
    return hashlib.sha256(canonical(fields)).hexdigest()


def seal(obj: dict[str, Any]) -> bytes:
    """Add `hash` to `obj` and return the canonical line, newline included."""
    obj["hash"] = line_hash(obj)
    return canonical(obj) + b"\n"


def parse_line(raw: bytes, lineno: int) -> Entry:
    """Parse one transcript line strictly.

    Raises:
        AuditError: the line is not one canonical-looking JSON object with the fields of its
            kind (message names the line number).
    """
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AuditError(f"line {lineno}: not a JSON object ({_short(exc)})") from exc
    if not isinstance(obj, dict):
        raise AuditError(f"line {lineno}: not a JSON object")
    kind = _check_fields(obj, lineno)
    message = _message(obj, lineno) if kind == "msg" else None
    return Entry(
        lineno=lineno,
        kind=kind,
        index=obj["index"],
        prev=obj["prev"],
        hash=obj["hash"],
        hash_ok=line_hash(obj) == obj["hash"],
        canonical=canonical(obj) == raw,
        body=obj,
        message=message,
        keys=_keys(obj, kind, lineno),
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate field {key!r}")
        out[key] = value
    return out


def _check_fields(obj: dict[str, Any], lineno: int) -> str:
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise AuditError(f"line {lineno}: unknown line kind {str(kind)[:40]!r}")
    required = {**_COMMON, **_KINDS[kind]}
    optional = _OPTIONAL.get(kind, {})
    for name in required:
        if name not in obj:
            raise AuditError(f"line {lineno}: {kind} line lacks field {name!r}")
    for name, value in obj.items():
        typ = required.get(name) or optional.get(name)
        if typ is None:
            raise AuditError(f"line {lineno}: unexpected field {name[:40]!r}")
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise AuditError(f"line {lineno}: field {name!r} must be {typ.__name__}")
    for name in ("prev", "hash", "sha256"):
        if name in obj and not _is_digest(obj[name]):
            raise AuditError(f"line {lineno}: field {name!r} is not a hex SHA-256")
    if obj["index"] < 0 or obj.get("seq", 0) < 0 or obj.get("size", 0) < 0:
        raise AuditError(f"line {lineno}: negative index, seq or size")
    return kind


def _message(obj: dict[str, Any], lineno: int) -> Message:
    if obj["direction"] not in ("send", "recv"):
        raise AuditError(f"line {lineno}: direction must be 'send' or 'recv'")
    payload = None
    if "payload" in obj:
        try:
            payload = base64.b64decode(obj["payload"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AuditError(f"line {lineno}: payload is not valid base64") from exc
    return Message(
        lineno=lineno,
        index=obj["index"],
        seq=obj["seq"],
        time=obj["time"],
        direction=obj["direction"],
        peer=obj["peer"],
        step=obj["step"],
        size=obj["size"],
        sha256=obj["sha256"],
        payload=payload,
    )


def _keys(obj: dict[str, Any], kind: str, lineno: int) -> tuple[PublicKeyRecord, ...]:
    if kind == "key":
        return (_key(obj, lineno),)
    if kind == "header":
        raw = obj.get("keys", [])
        if not all(isinstance(k, dict) for k in raw):
            raise AuditError(f"line {lineno}: header keys must be objects")
        return tuple(_key(k, lineno) for k in raw)
    return ()


def _key(obj: Mapping[str, Any], lineno: int) -> PublicKeyRecord:
    owner, fingerprint, n_hex = obj.get("owner"), obj.get("fingerprint"), obj.get("n")
    if not (isinstance(owner, str) and isinstance(fingerprint, str) and isinstance(n_hex, str)):
        raise AuditError(f"line {lineno}: a key needs string owner, fingerprint and n")
    if not n_hex or len(n_hex) > 4096 or not set(n_hex) <= _HEX:
        raise AuditError(f"line {lineno}: key modulus n must be lower-case hex")
    n = int(n_hex, 16)
    if n < 3 or n % 2 == 0:
        raise AuditError(f"line {lineno}: key modulus n must be an odd number above 2")
    return PublicKeyRecord(owner=owner, fingerprint=fingerprint, n=n)


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _short(exc: BaseException) -> str:
    return str(exc)[:80]
