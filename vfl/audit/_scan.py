"""`vfl audit scan`: prove that captured payloads carry no ID and only well-formed ciphertexts.

Three checks over every captured payload of every transcript given:

1. ID leaks: no ID of the scanned ID file, in any common encoding (`_needles`), occurs
   anywhere in the payload bytes (alignment and training alike).
2. Message kinds: every training message (step starting with "train.") has one of the
   expected step names (`DEFAULT_TRAIN_STEPS`, or the caller's list of glob patterns).
3. Ciphertexts: every Paillier ciphertext found (`_ciphertexts`) under a recorded public key is
   randomized (c ≢ 1 mod n), and no ciphertext repeats across different messages.

Identical payloads (a message in the sender's and the receiver's transcript, or a retry) are
scanned once. Keys are gathered from all transcripts first, so a receiver's transcript is
checked against the sender's key even if only the sender recorded it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vfl.audit._ciphertexts import (
    EXTRACTORS,
    CiphertextBlob,
    Extractor,
    generic_extractor,
    unrandomized_ciphertexts,
)
from vfl.audit._findings import Finding
from vfl.audit._ids import ScanIds
from vfl.audit._reader import iter_lines, load_transcript
from vfl.audit._records import Entry, Message, PublicKeyRecord
from vfl.audit._search import NeedleIndex
from vfl.errors import AuditError

__all__ = ["DEFAULT_TRAIN_STEPS", "ScanReport", "TranscriptSummary", "scan"]

logger = logging.getLogger(__name__)

#: Step names (glob patterns) a training message may carry: the `TrainService` calls, whose
#: requests and replies both carry the call's step (`vfl.transport`; a test pins the two).
DEFAULT_TRAIN_STEPS: tuple[str, ...] = (
    "train.hello",
    "train.next_step",
    "train.weights",
    "train.forward",
    "train.backward",
    "train.backward_finish",
    "train.epoch_saved",
    "train.abort",
)
TRAIN_PREFIX = "train."
_MAX_HITS = 20


@dataclass
class TranscriptSummary:
    """What one scanned transcript holds."""

    name: str
    party: str
    run_id: str
    messages: int = 0
    captured: int = 0
    train_messages: int = 0


@dataclass
class ScanReport:
    """Everything a scan looked at and everything it found.

    Attributes:
        transcripts: one summary per transcript.
        ids: the ID file scanned for (source, column, IDs; rows kept for naming hits).
        needles: encodings searched; `short_needles` were too short to search reliably.
        needle_lengths: distinct needle lengths (bytes).
        keys: public keys recorded in the transcripts.
        allowed_steps: the training step patterns accepted.
        payloads: distinct payloads scanned; `payload_bytes` their total size.
        ciphertexts: ciphertexts tested under a recorded key.
        findings: every problem found.
    """

    transcripts: list[TranscriptSummary]
    ids: ScanIds
    needles: int
    short_needles: int
    needle_lengths: list[int]
    keys: list[PublicKeyRecord]
    allowed_steps: tuple[str, ...]
    payloads: int = 0
    payload_bytes: int = 0
    ciphertexts: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings


def scan(
    transcripts: Sequence[Path],
    ids: ScanIds,
    *,
    allowed_train_steps: Sequence[str] = DEFAULT_TRAIN_STEPS,
    extractors: Mapping[str, Extractor] | None = None,
    min_needle: int = 6,
) -> ScanReport:
    """Scan transcripts for ID leaks, unexpected training steps and unrandomized ciphertexts.

    Args:
        transcripts: transcript files (one or more parties of one run).
        ids: the IDs to look for (`read_scan_ids`).
        allowed_train_steps: glob patterns for training step names.
        extractors: step -> ciphertext extractor; `EXTRACTORS` (the registry) by default.
        min_needle: shortest encoding searched, in bytes.

    Raises:
        AuditError: a file is not a transcript.
    """
    if not transcripts:
        raise AuditError("no transcript to scan")
    keys = _unique_keys(k for path in transcripts for k in load_transcript(path).keys)
    index = NeedleIndex(ids.ids, min_length=min_needle)
    report = ScanReport(
        transcripts=[],
        ids=ids,
        needles=index.needle_count,
        short_needles=index.short_needles,
        needle_lengths=index.lengths,
        keys=keys,
        allowed_steps=tuple(allowed_train_steps),
    )
    scanner = _Scanner(report, index, EXTRACTORS if extractors is None else extractors)
    for path in transcripts:
        scanner.transcript(path)
    scanner.finish()
    logger.info("scan: %d payloads, %d findings", report.payloads, len(report.findings))
    return report


def _unique_keys(keys: Iterable[PublicKeyRecord]) -> list[PublicKeyRecord]:
    out: dict[tuple[str, int], PublicKeyRecord] = {}
    for key in keys:
        out.setdefault((key.fingerprint, key.n), key)
    return list(out.values())


class _Scanner:
    def __init__(
        self, report: ScanReport, index: NeedleIndex, extractors: Mapping[str, Extractor]
    ) -> None:
        self.report = report
        self.index = index
        self.extractors = extractors
        self.generic = generic_extractor({k.width for k in report.keys})
        self.seen_payloads: set[bytes] = set()
        self.seen_ciphertexts: dict[bytes, str] = {}
        self.train_payloads = 0

    def transcript(self, path: Path) -> None:
        items = iter_lines(path)
        header = next(items)
        if not isinstance(header, Entry):
            raise AuditError(f"{path.name}: no header")
        body = header.body
        summary = TranscriptSummary(path.name, str(body["party"]), str(body["run_id"]))
        self.report.transcripts.append(summary)
        for item in items:
            if isinstance(item, Finding):
                self.report.findings.append(item)
            elif item.message is not None:
                self.message(summary, item.message)

    def message(self, summary: TranscriptSummary, m: Message) -> None:
        summary.messages += 1
        is_train = m.step.startswith(TRAIN_PREFIX)
        summary.train_messages += is_train
        if is_train and not any(fnmatch.fnmatchcase(m.step, p) for p in self.report.allowed_steps):
            detail = f"unexpected training message kind {m.step[:80]!r}"
            self._find("scan.step", summary.name, m, detail)
        if m.payload is None:
            return
        summary.captured += 1
        digest = hashlib.sha256(m.payload).digest()
        if digest in self.seen_payloads:
            return
        self.seen_payloads.add(digest)
        self.report.payloads += 1
        self.report.payload_bytes += len(m.payload)
        self.train_payloads += is_train
        self._ids(summary.name, m, m.payload)
        self._ciphertexts(summary.name, m, m.payload)

    def finish(self) -> None:
        if not any(t.captured for t in self.report.transcripts):
            detail = "no payload was captured: nothing could be scanned (record with capture on)"
            self.report.findings.append(Finding("scan.nothing-captured", "-", None, None, detail))
        if self.train_payloads and not self.report.keys:
            detail = (
                "training payloads were captured but no Paillier public key is recorded, so "
                "ciphertexts could not be checked (plaintext protection, or keys not recorded)"
            )
            self.report.findings.append(Finding("scan.no-key", "-", None, None, detail))

    def _ids(self, source: str, m: Message, payload: bytes) -> None:
        ids = self.report.ids
        for hit in self.index.find(payload, limit=_MAX_HITS):
            detail = (
                f"payload contains the ID in row {ids.rows[hit.id_row]} of {ids.source} "
                f"(encoded as {hit.label}) at byte {hit.offset}"
            )
            self._find("scan.id-leak", source, m, detail)

    def _ciphertexts(self, source: str, m: Message, payload: bytes) -> None:
        extractor = self.extractors.get(m.step, self.generic)
        try:
            blobs = list(extractor(payload))
        except AuditError as exc:
            self._find("scan.unparsable", source, m, f"payload not parseable: {exc}")
            return
        for blob in blobs:
            self._blob(source, m, blob)

    def _blob(self, source: str, m: Message, blob: CiphertextBlob) -> None:
        keys = [
            k
            for k in self.report.keys
            if k.width == blob.width and blob.fingerprint in (None, k.fingerprint)
        ]
        if blob.fingerprint is not None and not keys:
            detail = (
                f"ciphertexts under key {blob.fingerprint[:16]}..., which no transcript records"
            )
            self._find("scan.unknown-key", source, m, detail)
            return
        if not keys or len(blob.blob) % blob.width:
            if blob.fingerprint is not None:
                self._find("scan.ciphertext", source, m, "ciphertext blob has a partial ciphertext")
            return
        self.report.ciphertexts += len(blob.blob) // blob.width
        for key in keys:
            bad = unrandomized_ciphertexts(blob.blob, key.n, blob.width)
            if bad:
                detail = (
                    f"{len(bad)} ciphertext(s) not randomized (c ≡ 1 mod n under {key.owner}'s "
                    f"key {key.fingerprint[:16]}...), first at index {bad[0]}"
                )
                self._find("scan.unrandomized", source, m, detail)
        self._repeats(source, m, blob)

    def _repeats(self, source: str, m: Message, blob: CiphertextBlob) -> None:
        width = blob.width
        for i in range(len(blob.blob) // width):
            chunk = blob.blob[i * width : (i + 1) * width]
            if not chunk.strip(b"\0"):
                continue
            digest = hashlib.blake2b(chunk, digest_size=16).digest()
            here = f"{source} line {m.lineno} ciphertext {i}"
            first = self.seen_ciphertexts.setdefault(digest, here)
            if first != here:
                detail = f"ciphertext {i} repeats {first} (no fresh randomness)"
                self._find("scan.repeated-ciphertext", source, m, detail)
                return

    def _find(self, check: str, source: str, m: Message, detail: str) -> None:
        self.report.findings.append(Finding(check, source, m.lineno, m.seq, detail))
