"""Audit checks after the run: the same functions `vfl audit verify` and `vfl audit scan` call.

- verify: every feature party's transcript of a stage against the label party's (`--peer`):
  both hash chains intact and every message each side recorded matched by the other's record;
- scan: every captured payload of every stage searched for every ID of every site (raw, hex,
  MD5/SHA-1/SHA-256, base64), training messages only of the expected kinds, every Paillier
  ciphertext randomized. The scan report is written next to the demo report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfl.audit import load_transcript, read_scan_ids, scan, scan_markdown, verify

__all__ = ["AuditOutcome", "run_checks", "transcript_bytes"]


@dataclass
class AuditOutcome:
    """Verification per (stage, feature party) and the scan over all transcripts."""

    verified: list[dict[str, Any]] = field(default_factory=list)
    scan_ok: bool = False
    scan_findings: int = 0
    scan_payloads: int = 0
    scan_ids: int = 0
    scan_report: Path | None = None

    @property
    def ok(self) -> bool:
        """Every verification and the scan passed."""
        return self.scan_ok and all(v["ok"] for v in self.verified)


def run_checks(
    transcripts: Mapping[str, Mapping[str, Path]],
    *,
    label: str,
    ids_file: Path,
    report_path: Path,
) -> AuditOutcome:
    """Verify each stage's transcripts pairwise and scan them all for IDs.

    Args:
        transcripts: stage -> party -> transcript path.
        label: the label party's name.
        ids_file: every ID at any site (column ``patient_id``).
        report_path: where the scan's Markdown report goes.

    Raises:
        AuditError: a transcript is missing or not a transcript at all.
    """
    outcome = AuditOutcome()
    for stage, parties in transcripts.items():
        for party, path in parties.items():
            if party == label:
                continue
            report = verify(path, parties[label])
            outcome.verified.append(
                {
                    "stage": stage,
                    "party": party,
                    "ok": report.ok,
                    "matched": report.matched,
                    "findings": [str(f) for f in report.findings],
                }
            )
    paths = [p for parties in transcripts.values() for p in parties.values()]
    result = scan(paths, read_scan_ids(ids_file, "patient_id"))
    report_path.write_text(scan_markdown(result), encoding="utf-8")
    outcome.scan_ok = result.ok
    outcome.scan_findings = len(result.findings)
    outcome.scan_payloads = result.payloads
    outcome.scan_ids = len(result.ids.ids)
    outcome.scan_report = report_path
    return outcome


def transcript_bytes(path: Path) -> dict[str, int]:
    """Bytes this party sent and received, as its transcript records them."""
    totals = {"sent": 0, "received": 0}
    for message in load_transcript(path).messages:
        key = "sent" if message.direction == "send" else "received"
        totals[key] += message.size
    return totals
