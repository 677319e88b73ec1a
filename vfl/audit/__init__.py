"""The audit trail: hash-chained transcripts of every wire message, verification and scans.

- `Transcript` records what a party sends and receives (a `psi.observer.WireObserver`).
- `verify` checks a transcript's chain and matches two parties' transcripts.
"""

from vfl.audit._findings import Finding
from vfl.audit._reader import ParsedTranscript, load_transcript
from vfl.audit._records import Message, PublicKeyRecord
from vfl.audit._transcript import Transcript
from vfl.audit._verify import VerifyReport, verify

__all__ = [
    "Finding",
    "Message",
    "ParsedTranscript",
    "PublicKeyRecord",
    "Transcript",
    "VerifyReport",
    "load_transcript",
    "verify",
]
