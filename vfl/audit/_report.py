"""Render scan and verify results for people (Markdown, text) and machines (JSON-ready dicts).

Reports name IDs only by their row in the ID file and keys only by fingerprint: a report can be
shared with an auditor without spreading what it audits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from vfl.audit._findings import Finding
from vfl.audit._scan import ScanReport
from vfl.audit._verify import VerifyReport

__all__ = ["scan_markdown", "scan_summary", "verify_summary", "verify_text"]


def scan_markdown(report: ScanReport) -> str:
    """Return the auditor's report of a scan, as Markdown."""
    verdict = (
        "**PASS**: no finding."
        if report.ok
        else f"**FAIL**: {len(report.findings)} finding(s), listed at the end."
    )
    lines = [
        "# Audit scan report",
        "",
        f"Result: {verdict}",
        "",
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by `vfl audit scan`.",
        "",
        *_inputs(report),
        *_checks(report),
        *_findings(report.findings),
    ]
    return "\n".join(lines) + "\n"


def scan_summary(report: ScanReport) -> dict[str, Any]:
    """Return the scan result as one JSON-ready object."""
    return {
        "ok": report.ok,
        "transcripts": [vars(t) for t in report.transcripts],
        "ids": len(report.ids.ids),
        "needles": report.needles,
        "short_needles": report.short_needles,
        "keys": [{"owner": k.owner, "fingerprint": k.fingerprint} for k in report.keys],
        "payloads": report.payloads,
        "payload_bytes": report.payload_bytes,
        "ciphertexts": report.ciphertexts,
        "findings": [_finding_json(f) for f in report.findings],
    }


def verify_text(report: VerifyReport) -> str:
    """Return a verification result as plain text, one finding per line."""
    lines = [
        f"{t['name']}: party {t['party']}, run {t['run_id']}, {t['lines']} line(s), "
        f"head {t['head']}"
        for t in report.transcripts
    ]
    if len(report.transcripts) == 2:
        lines.append(f"messages matched between the two parties: {report.matched}")
    lines += [str(f) for f in report.findings]
    lines.append("OK: no finding" if report.ok else f"FAIL: {len(report.findings)} finding(s)")
    return "\n".join(lines)


def verify_summary(report: VerifyReport) -> dict[str, Any]:
    """Return a verification result as one JSON-ready object."""
    return {
        "ok": report.ok,
        "transcripts": report.transcripts,
        "matched": report.matched,
        "findings": [_finding_json(f) for f in report.findings],
    }


def _inputs(report: ScanReport) -> list[str]:
    ids = report.ids
    lines = [
        "## Inputs",
        "",
        "| Transcript | Party | Run | Messages | Payloads captured | Training messages |",
        "|---|---|---|---:|---:|---:|",
    ]
    for t in report.transcripts:
        cells = [t.name, t.party, t.run_id, t.messages, t.captured, t.train_messages]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lengths = report.needle_lengths
    span = f"{lengths[0]}-{lengths[-1]} bytes" if lengths else "none"
    lines += [
        "",
        f"- IDs: {len(ids.ids)} from `{_cell(ids.source)}`, column `{_cell(ids.column)}`.",
        f"- Encodings searched: {report.needles} ({span}); {report.short_needles} shorter than "
        "the minimum length were not searched (they would match random bytes by chance).",
        f"- Paillier public keys recorded: {_keys(report)}.",
        f"- Training steps allowed: {', '.join(f'`{s}`' for s in report.allowed_steps)}.",
        "",
    ]
    return lines


def _keys(report: ScanReport) -> str:
    if not report.keys:
        return "none"
    return "; ".join(
        f"{_cell(k.owner)} `{k.fingerprint[:16]}...` ({k.n.bit_length()} bits)" for k in report.keys
    )


def _checks(report: ScanReport) -> list[str]:
    return [
        "## What was checked",
        "",
        f"Distinct payloads scanned: {report.payloads} ({report.payload_bytes} bytes); "
        f"ciphertexts tested: {report.ciphertexts}.",
        "",
        "1. **No ID on the wire.** Every payload was searched for every ID, as given, stripped, "
        "NFC-normalized and case-folded, in UTF-8, hex (both cases), base64 (standard and "
        "URL-safe, at every alignment), and as raw, hex and base64 MD5, SHA-1 and SHA-256 "
        "digests. Each hash match was confirmed byte for byte.",
        "2. **Only expected training messages.** Every message whose step starts with "
        "`train.` must have an allowed step name.",
        "3. **Randomized ciphertexts.** Every ciphertext under a recorded Paillier key was tested "
        "for c ≡ 1 (mod n), the form of an encryption without randomness, whose plaintext "
        "anyone can read; and no ciphertext may repeat across or within messages.",
        "",
    ]


def _findings(findings: list[Finding]) -> list[str]:
    if not findings:
        return ["## Findings", "", "None."]
    lines = ["## Findings", "", "| # | Check | Where | Detail |", "|---:|---|---|---|"]
    for i, f in enumerate(findings, 1):
        lines.append(f"| {i} | {f.check} | {_cell(f.where())} | {_cell(f.detail)} |")
    return lines


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "check": f.check,
        "source": f.source,
        "line": f.lineno,
        "seq": f.seq,
        "detail": f.detail,
    }


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
