"""Stage 1: private set intersection alignment (torch-free; never imports `vfl`)."""

from psi.errors import (
    AlignmentError,
    ConfigError,
    InputDataError,
    IntersectionTooSmallError,
    OrderMismatchError,
    PeerError,
    PeerRefusedError,
    PeerTimeoutError,
    PeerUnreachableError,
    ProtocolViolationError,
    VflError,
)

__all__ = [
    "AlignmentError",
    "ConfigError",
    "InputDataError",
    "IntersectionTooSmallError",
    "OrderMismatchError",
    "PeerError",
    "PeerRefusedError",
    "PeerTimeoutError",
    "PeerUnreachableError",
    "ProtocolViolationError",
    "VflError",
]
