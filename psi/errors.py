"""Errors shared by every layer of the engine.

The root of the hierarchy lives here, in the lowest layer, because `psi` never imports
`vfl`; `vfl.errors` re-exports these and adds the training-side branches. The full tree
is drawn in `vfl.errors`.
"""

from __future__ import annotations

__all__ = [
    "AlignmentError",
    "ConfigError",
    "InputDataError",
    "IntersectionTooSmallError",
    "OrderMismatchError",
    "PeerError",
    "PeerIdentityError",
    "PeerRefusedError",
    "PeerTimeoutError",
    "PeerUnreachableError",
    "ProtocolViolationError",
    "VflError",
]


class VflError(Exception):
    """Root of every error the engine raises on purpose."""


class ConfigError(VflError, ValueError):
    """A configuration file or option is wrong.

    Carries every problem found, so a user fixes them all in one pass.
    """

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s){where}:\n{lines}")


class InputDataError(VflError, ValueError):
    """A party's own input file is missing, unreadable or holds bad values.

    Messages name the file, the column and counts or row positions; never an ID.
    """


class AlignmentError(VflError):
    """Stage 1 (private set intersection) could not complete."""


class IntersectionTooSmallError(AlignmentError):
    """The intersection is below the agreed minimum size; no output is written."""


class OrderMismatchError(AlignmentError):
    """Parties' salted digests of the shared order disagree."""


class PeerError(VflError):
    """Talking to another party failed."""


class PeerUnreachableError(PeerError):
    """The peer could not be reached within the deadline."""


class PeerTimeoutError(PeerError):
    """The peer answered too slowly."""


class PeerIdentityError(PeerError):
    """The peer is not the party the config names: its TLS certificate does not prove it.

    Raised by a feature party whose TLS handshake with the label party's address failed
    certificate verification, e.g. a server there presents another party's certificate.
    """


class PeerRefusedError(PeerError):
    """The peer refused a call (wrong run, policy, identity or step)."""


class ProtocolViolationError(VflError):
    """A message arrived out of place, malformed or with the wrong size."""
