"""Each party's own Paillier key pair, kept in its work directory."""

from __future__ import annotations

from pathlib import Path

from vfl.crypto import PrivateKey, generate_keypair

__all__ = ["load_or_create_key"]


def load_or_create_key(path: Path, bits: int) -> PrivateKey:
    """This party's Paillier key: loaded from `path`, or generated and saved there (0600)."""
    if path.is_file():
        return PrivateKey.load(path)
    _, private = generate_keypair(bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    private.save(path)
    return private
