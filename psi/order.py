"""The shared order of the final set and the salted digest parties compare.

Every party sorts the final IDs by their normalized UTF-8 bytes, so position i means the same
patient everywhere; then each sends HMAC-SHA256(salt, length-prefixed ordered IDs), and the label
party checks they are all equal. The salt is drawn per run, so the digest cannot be matched
against a dictionary of candidate ID lists computed in advance.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["SALT_BYTES", "digest", "shared_order"]

SALT_BYTES = 32


def shared_order(ids: Sequence[bytes], members: Sequence[int]) -> list[int]:
    """Sort `members` (indices into `ids`) by the normalized ID bytes they point to."""
    return sorted(members, key=ids.__getitem__)


def digest(salt: bytes, ordered_ids: Sequence[bytes]) -> bytes:
    """HMAC-SHA256 keyed by the run salt over the length-prefixed ordered IDs."""
    mac = hmac.new(salt, digestmod=hashlib.sha256)
    mac.update(len(ordered_ids).to_bytes(8, "big"))
    for item in ordered_ids:
        mac.update(len(item).to_bytes(8, "big"))
        mac.update(item)
    return mac.digest()
