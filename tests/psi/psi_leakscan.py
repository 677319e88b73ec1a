"""Encodings of an ID that must never appear on the wire."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable


def forbidden_encodings(ids: Iterable[str]) -> set[bytes]:
    out: set[bytes] = set()
    for text in ids:
        raw = text.encode("utf-8")
        forms = [raw] + [hashlib.new(h, raw).digest() for h in ("md5", "sha1", "sha256")]
        for form in forms:
            out.add(form)
            out.add(form.hex().encode())
            out.add(form.hex().upper().encode())
            out.add(base64.b64encode(form))
            out.add(base64.b64encode(form).rstrip(b"="))
            out.add(base64.urlsafe_b64encode(form).rstrip(b"="))
    return out


def leaks(payloads: Iterable[bytes], ids: Iterable[str]) -> int:
    """Number of (payload, forbidden encoding) hits; 0 means nothing leaked."""
    needles = forbidden_encodings(ids)
    blob = b"\x00".join(payloads)
    return sum(1 for n in needles if n in blob)
