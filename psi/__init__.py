"""Stage 1: private set intersection alignment (torch-free; never imports `vfl`).

`psi.run.align(cfg)` runs one party's side; `psi.config` parses its config sections;
`psi.net` holds the gRPC plumbing stage 2 shares. Implementation modules stay private.
"""

from psi.config import AlignConfig, NetworkConfig, PartyConfig, PsiConfig, load_psi_config
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
from psi.ids import IdSet, normalize, read_ids
from psi.run import align

__all__ = [
    "AlignConfig",
    "AlignmentError",
    "ConfigError",
    "IdSet",
    "InputDataError",
    "IntersectionTooSmallError",
    "NetworkConfig",
    "OrderMismatchError",
    "PartyConfig",
    "PeerError",
    "PeerIdentityError",
    "PeerRefusedError",
    "PeerTimeoutError",
    "PeerUnreachableError",
    "ProtocolViolationError",
    "PsiConfig",
    "VflError",
    "align",
    "load_psi_config",
    "normalize",
    "read_ids",
]
