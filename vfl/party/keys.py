"""Each party's own Paillier key pair, kept in its work directory."""

from __future__ import annotations

import logging
from pathlib import Path

from vfl.crypto import PrivateKey, PublicKey, generate_keypair
from vfl.crypto.keys import DEFAULT_KEY_SCHEME
from vfl.errors import PeerRefusedError

__all__ = ["check_peer_scheme", "load_or_create_key"]


log = logging.getLogger(__name__)


def load_or_create_key(path: Path, bits: int, scheme: str = DEFAULT_KEY_SCHEME) -> PrivateKey:
    """This party's Paillier key: loaded from `path`, or generated and saved there (0600).

    A new key has `bits` and `scheme`. An existing key is kept even if the settings now
    differ (it is logged), so a resumed run keeps decrypting its checkpointed state.
    """
    if path.is_file():
        key = PrivateKey.load(path)
        pub = key.public_key
        if (pub.bits, pub.scheme) != (bits, scheme):
            log.warning(
                "keeping the existing %d-bit %s Paillier key in %s (settings ask for %d-bit %s;"
                " delete the file to make a new key)",
                pub.bits,
                pub.scheme,
                path,
                bits,
                scheme,
            )
        return key
    _, private = generate_keypair(bits, scheme)
    path.parent.mkdir(parents=True, exist_ok=True)
    private.save(path)
    return private


def check_peer_scheme(key: PublicKey, accepted: tuple[str, ...], owner: str) -> None:
    """Refuse a peer's key whose scheme this party's `[train] peer_key_schemes` excludes.

    Raises:
        PeerRefusedError: naming the peer, its scheme and the setting.
    """
    if key.scheme not in accepted:
        raise PeerRefusedError(
            f"{owner}'s Paillier key uses the {key.scheme} scheme, which this party's "
            f"[train] peer_key_schemes = {list(accepted)} does not accept"
        )
