"""The engine's error hierarchy, in one place.

Library code raises only these (or lets a programming error through); the CLI maps them to
exit codes in one table, and the gRPC layer maps them to status codes in one place::

    VflError
    ├── ConfigError (also ValueError)        config file or option is wrong; lists every problem
    ├── InputDataError (also ValueError)     a party's own file is missing, unreadable or bad
    ├── AlignmentError                       stage 1 could not complete
    │   ├── IntersectionTooSmallError        below the agreed minimum; nothing written
    │   └── OrderMismatchError               parties disagree on the shared order
    ├── PeerError                            talking to another party failed
    │   ├── PeerUnreachableError
    │   ├── PeerTimeoutError
    │   ├── PeerIdentityError                the label party's address presents another identity
    │   └── PeerRefusedError                 wrong run, policy, identity, step or sequence
    ├── ProtocolViolationError               malformed or out-of-place message
    ├── CryptoError                          Paillier engine
    │   ├── EncodingBoundsError (ValueError) a value outside its declared fixed-point bounds
    │   ├── CiphertextError                  tampered, truncated or out-of-range ciphertext
    │   └── KeyMismatchError                 ciphertext under another key
    ├── TowerError                           unknown tower or a factory that returns the wrong thing
    ├── TrainingError                        stage 2 could not continue
    │   └── CheckpointError                  checkpoint missing, corrupt or from another run
    └── AuditError                           a transcript is broken or a scan found a leak
"""

from __future__ import annotations

from psi.errors import (
    AlignmentError,
    ConfigError,
    InputDataError,
    IntersectionTooSmallError,
    OrderMismatchError,
    PeerError,
    PeerIdentityError,
    PeerRefusedError,
    PeerTimeoutError,
    PeerUnreachableError,
    ProtocolViolationError,
    VflError,
)

__all__ = [
    "AlignmentError",
    "AuditError",
    "CheckpointError",
    "CiphertextError",
    "ConfigError",
    "CryptoError",
    "EncodingBoundsError",
    "InputDataError",
    "IntersectionTooSmallError",
    "KeyMismatchError",
    "OrderMismatchError",
    "PeerError",
    "PeerIdentityError",
    "PeerRefusedError",
    "PeerTimeoutError",
    "PeerUnreachableError",
    "ProtocolViolationError",
    "TowerError",
    "TrainingError",
    "VflError",
]


class CryptoError(VflError):
    """The Paillier engine refused an operation."""


class EncodingBoundsError(CryptoError, ValueError):
    """A value lies outside the fixed-point bounds its packing was sized for."""


class CiphertextError(CryptoError):
    """A received ciphertext is malformed: wrong width, out of range or tampered."""


class KeyMismatchError(CryptoError):
    """A ciphertext carries another key's fingerprint."""


class TowerError(VflError):
    """A modality tower could not be resolved or built."""


class TrainingError(VflError):
    """Stage 2 (split learning) could not continue."""


class CheckpointError(TrainingError):
    """A checkpoint is missing, corrupt or belongs to another run."""


class AuditError(VflError):
    """A transcript failed verification, or a scan found a leak."""
