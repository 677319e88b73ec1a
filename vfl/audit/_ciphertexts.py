"""Find Paillier ciphertexts in payloads and test that each was randomized.

Paillier encrypts m as c = (1 + n)^m · r^n mod n². Without the random factor (r = 1) this is
c = 1 + m·n, so c ≡ 1 (mod n) and anyone can read m = (c - 1) / n. A properly randomized
ciphertext satisfies that congruence with probability about 1/p (p a prime factor of n): a
match is a leak, never chance. The same ciphertext twice in different messages means the same
plaintext sent twice without fresh randomness, which reveals equality.

Where ciphertexts sit in a payload is pluggable: `register_extractor(step, fn)` installs an
extractor for one step, returning (fingerprint, blob, width) triples; any step without one
goes through a generic walk of the protobuf wire format in which every length-delimited field
whose length is a positive multiple of a recorded key's ciphertext width is a candidate blob.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from vfl.audit._protowalk import length_delimited
from vfl.errors import AuditError

__all__ = [
    "EXTRACTORS",
    "CiphertextBlob",
    "Extractor",
    "generic_extractor",
    "register_extractor",
    "unrandomized_ciphertexts",
]


@dataclass(frozen=True)
class CiphertextBlob:
    """Concatenated fixed-width big-endian ciphertexts found in a payload.

    Attributes:
        fingerprint: the key fingerprint carried with the blob, or None when unknown (the
            generic walk): then every recorded key of that width is tried.
        blob: the ciphertexts, `width` bytes each.
        width: bytes per ciphertext (the byte length of n²).
    """

    fingerprint: str | None
    blob: bytes
    width: int


Extractor = Callable[[bytes], Sequence[CiphertextBlob]]

#: step name -> extractor; steps not listed use `generic_extractor`.
EXTRACTORS: dict[str, Extractor] = {}


def register_extractor(step: str, extractor: Extractor) -> None:
    """Install the extractor for payloads of `step` (replacing any earlier one)."""
    EXTRACTORS[step] = extractor


def generic_extractor(widths: Collection[int]) -> Extractor:
    """Return an extractor that takes every length-delimited field sized for one of `widths`.

    The extractor raises `AuditError` when the payload is not a protobuf message.
    """
    usable = sorted({w for w in widths if w > 0})

    def extract(payload: bytes) -> list[CiphertextBlob]:
        out: list[CiphertextBlob] = []
        for value in length_delimited(payload):
            for width in usable:
                if len(value) >= width and len(value) % width == 0:
                    out.append(CiphertextBlob(None, bytes(value), width))
        return out

    return extract


def unrandomized_ciphertexts(blob: bytes, n: int, width: int | None = None) -> list[int]:
    """Return the positions of ciphertexts in `blob` with c ≡ 1 (mod n): not randomized.

    Args:
        blob: fixed-width big-endian ciphertexts, concatenated.
        n: the Paillier modulus of the key they are under.
        width: bytes per ciphertext; the byte length of n² by default.

    Raises:
        AuditError: the blob is not a whole number of ciphertexts.
    """
    width = width or ((n * n).bit_length() + 7) // 8
    if width <= 0 or len(blob) % width:
        raise AuditError(f"ciphertext blob of {len(blob)} bytes is not a multiple of {width}")
    return [
        i
        for i in range(len(blob) // width)
        if int.from_bytes(blob[i * width : (i + 1) * width], "big") % n == 1
    ]


def extractor_for(
    step: str, widths: Collection[int], registry: Mapping[str, Extractor]
) -> Extractor:
    """Return the registered extractor for `step`, or the generic one."""
    return registry.get(step) or generic_extractor(widths)
