"""Every common byte encoding of an ID that a careless protocol might put on the wire.

For each ID the scan looks for each normalization variant (as given; stripped; Unicode NFC;
case-folded; and their combinations) in UTF-8 and, for each variant:

- the raw bytes, hex (lower and upper case), and base64 (standard and URL-safe);
- the raw MD5, SHA-1 and SHA-256 digests, their hex, and their base64.

Base64 is searched at all three alignments: inside a longer base64 text the encoding of the
same bytes depends on their offset modulo 3, so for each offset only the characters that
depend on the ID's bytes alone are used. Padding is never part of a needle, so padded and
unpadded forms are both found.
"""

from __future__ import annotations

import binascii
import hashlib
import unicodedata
from typing import NamedTuple

__all__ = ["DIGESTS", "Needle", "id_needles", "id_variants", "needle_bytes", "needle_specs"]

DIGESTS = ("md5", "sha1", "sha256")
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_PAD = (b"", b"\0", b"\0\0")
_FIRST = (0, 2, 3)  # first base64 character that depends only on the data, per shift
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_SEXTETS = {c: i for i, c in enumerate(_ALPHABET + b"+/")} | {ord("-"): 62, ord("_"): 63}


def id_variants(raw: str) -> dict[str, str]:
    """Return {variant: label} for the ID as given and under strip / NFC / case fold."""
    out: dict[str, str] = {}
    for strip_label, stripped in (("", raw), ("strip+", raw.strip())):
        for nfc_label, nfc in (("", stripped), ("nfc+", unicodedata.normalize("NFC", stripped))):
            for fold_label, folded in (("", nfc), ("casefold+", nfc.casefold())):
                label = (strip_label + nfc_label + fold_label).rstrip("+") or "as-is"
                out.setdefault(folded, label)
    return out


class Needle(NamedTuple):
    """One encoding of one ID variant.

    Attributes:
        label: how it was encoded, e.g. "casefold/sha256-hex"; safe to show in a report.
        data: the bytes searched for.
        source: for base64 needles, the bytes they encode; else empty.
        shift: for base64 needles, the alignment (0-2 bytes into a 3-byte group); else -1.
    """

    label: str
    data: bytes
    source: bytes = b""
    shift: int = -1

    def fits(self, payload: bytes, offset: int) -> bool:
        """Whether the payload around a match at `offset` agrees with the encoded bytes.

        A base64 needle holds only the characters fully determined by its source; the
        characters just before and after also carry a few of the source's bits, which must
        match too, or a different ID sharing most of the bits would be named.
        """
        if self.shift < 0:
            return True
        encoded = _b64(b"\0" * self.shift + self.source + b"\0\0", self.label)
        first = -(-8 * self.shift // 6)
        last = first + len(self.data)
        own_before = 6 * first - 8 * self.shift  # low bits of char first-1 that are the source's
        own_after = 8 * (self.shift + len(self.source)) - 6 * last  # high bits of char `last`
        checks = [
            (offset - 1, first - 1, (1 << own_before) - 1),
            (offset + len(self.data), last, ((1 << own_after) - 1) << (6 - own_after)),
        ]
        for at, index, mask in checks:
            seen, want = _sextet(payload, at), _sextet(encoded, index)
            if mask and seen is not None and want is not None and (seen ^ want) & mask:
                return False
        return True


def id_needles(raw: str) -> list[Needle]:
    """Return every encoding of every variant of one ID (see `needle_specs`) as `Needle`s.

    Labels read like "casefold/sha256-hex" so a report can say how an ID leaked without
    showing it.
    """
    return [Needle(*spec) for spec in needle_specs(raw)]


def needle_specs(raw: str) -> list[tuple[str, bytes, bytes, int]]:
    """Return (label, data, source, shift) per encoding, deduplicated by (data, label).

    Plain tuples, not `Needle`s: the index calls this for every ID, so it stays cheap.
    """
    seen: set[tuple[bytes, str]] = set()
    out: list[tuple[str, bytes, bytes, int]] = []
    for variant, vlabel in id_variants(raw).items():
        data = variant.encode("utf-8", errors="surrogateescape")
        if not data:
            continue
        sources = [("raw", data)] + [(n, hashlib.new(n, data).digest()) for n in DIGESTS]
        for name, source in sources:
            for elabel, needle, src, shift in _encodings(name, source):
                if needle and (needle, elabel) not in seen:
                    seen.add((needle, elabel))
                    out.append((f"{vlabel}/{elabel}", needle, src, shift))
    return out


def needle_bytes(raw: str) -> list[bytes]:
    """The bytes of every needle of one ID: what `id_needles` yields, without labels.

    The index calls this for every ID (millions of needles), so it avoids every per-needle
    object it can; a property test pins it to `id_needles`.
    """
    out: list[bytes] = []
    for variant in id_variants(raw):
        data = variant.encode("utf-8", errors="surrogateescape")
        if not data:
            continue
        for src in (data, *(hashlib.new(n, data).digest() for n in DIGESTS)):
            hexed = binascii.hexlify(src)
            out += (src, hexed, hexed.upper())
            n_bits = 8 * len(src)
            for shift in range(3):
                encoded = binascii.b2a_base64(_PAD[shift] + src, newline=False)
                stable = encoded[_FIRST[shift] : (8 * shift + n_bits) // 6]
                if stable:
                    out.append(stable)
                if b"+" in stable or b"/" in stable:
                    out.append(stable.translate(_URLSAFE))
    return out


def _encodings(label: str, data: bytes) -> list[tuple[str, bytes, bytes, int]]:
    hexed = binascii.hexlify(data)
    out = [(label, data, b"", -1), (f"{label}-hex", hexed, b"", -1)]
    out.append((f"{label}-HEX", hexed.upper(), b"", -1))
    for shift in range(3):
        stable = _base64_stable(data, shift, "base64")
        out.append((f"{label}-base64", stable, data, shift))
        if b"+" in stable or b"/" in stable:
            out.append((f"{label}-base64url", stable.translate(_URLSAFE), data, shift))
    return out


def _base64_stable(data: bytes, shift: int, alphabet: str) -> bytes:
    """Base64 characters fully determined by `data` when it starts `shift` bytes into a group."""
    encoded = _b64(_PAD[shift] + data, alphabet)
    first = -(-8 * shift // 6)
    last = (8 * (shift + len(data))) // 6
    return encoded[first:last]


def _b64(data: bytes, alphabet: str) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    return encoded.translate(_URLSAFE) if alphabet.endswith("base64url") else encoded


def _sextet(text: bytes, index: int) -> int | None:
    """The 6-bit value of the base64 character at `index` (either alphabet), or None."""
    if not 0 <= index < len(text):
        return None
    return _SEXTETS.get(text[index])
