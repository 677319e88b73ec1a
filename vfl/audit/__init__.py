"""The audit trail: hash-chained transcripts of every wire message, verification and scans.

- `Transcript` records what a party sends and receives (a `psi.observer.WireObserver`).
- `verify` checks a transcript's chain and matches two parties' transcripts.
- `scan` shows that no ID crossed the wire, training messages are of the expected kinds and
  every Paillier ciphertext was randomized; `register_extractor` teaches it where a step's
  ciphertexts sit.
"""

from vfl.audit._ciphertexts import (
    EXTRACTORS,
    CiphertextBlob,
    Extractor,
    generic_extractor,
    register_extractor,
    unrandomized_ciphertexts,
)
from vfl.audit._findings import Finding
from vfl.audit._ids import ScanIds, read_scan_ids
from vfl.audit._reader import ParsedTranscript, load_transcript
from vfl.audit._records import Message, PublicKeyRecord
from vfl.audit._report import scan_markdown, scan_summary, verify_summary, verify_text
from vfl.audit._scan import DEFAULT_TRAIN_STEPS, ScanReport, scan
from vfl.audit._transcript import Transcript
from vfl.audit._verify import VerifyReport, verify

__all__ = [
    "DEFAULT_TRAIN_STEPS",
    "EXTRACTORS",
    "CiphertextBlob",
    "Extractor",
    "Finding",
    "Message",
    "ParsedTranscript",
    "PublicKeyRecord",
    "ScanIds",
    "ScanReport",
    "Transcript",
    "VerifyReport",
    "generic_extractor",
    "load_transcript",
    "read_scan_ids",
    "register_extractor",
    "scan",
    "scan_markdown",
    "scan_summary",
    "unrandomized_ciphertexts",
    "verify",
    "verify_summary",
    "verify_text",
]
