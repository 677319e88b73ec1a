"""`vfl audit verify`: is a chain intact, and do two parties' transcripts agree?

Chain: every line's hash must match its content, its `prev` the previous line's hash, and its
`index` run 0, 1, 2, ... An edited line breaks its own hash (or, if rehashed, the next line's
link); a dropped line leaves a gap in the indices; a moved line shows up out of order. Each is
reported with the line number and the message's sequence number.

Peers: A's message sent to B with sequence number k must be in B's transcript as received from
A with sequence number k, with the same step, size and SHA-256, and the other way round. A
retransmission (the same message recorded twice) is not a finding; a different message under
the same sequence number is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vfl.audit._findings import Finding
from vfl.audit._reader import ParsedTranscript, load_transcript
from vfl.audit._records import GENESIS, Entry, Message

__all__ = ["VerifyReport", "chain_findings", "peer_findings", "verify"]


@dataclass
class VerifyReport:
    """The outcome of `verify`.

    Attributes:
        transcripts: name, run ID, party, line count and head (the last line's hash) of each
            transcript checked. Parties that exchange or publish their heads at the end of
            a run pin their chains: a later rewrite changes the head.
        matched: messages found on both sides (when a peer transcript was given).
        findings: every problem, in file order per check.
    """

    transcripts: list[dict[str, object]] = field(default_factory=list)
    matched: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings


def verify(path: Path, peer: Path | None = None) -> VerifyReport:
    """Check one transcript's chain and, with `peer`, that both sides agree message by message.

    Raises:
        AuditError: a file cannot be read or is not a transcript at all.
    """
    report = VerifyReport()
    parsed = [load_transcript(p) for p in ([path] if peer is None else [path, peer])]
    for t in parsed:
        report.findings += t.problems + chain_findings(t)
        report.transcripts.append(
            {
                "name": t.name,
                "run_id": t.run_id,
                "party": t.party,
                "lines": len(t.entries),
                "head": t.entries[-1].hash,
            }
        )
    if peer is not None:
        matched, findings = peer_findings(parsed[0], parsed[1])
        report.matched = matched
        report.findings += findings
    return report


def chain_findings(t: ParsedTranscript) -> list[Finding]:
    """Check hashes, links and indices of a transcript's parseable lines."""
    findings: list[Finding] = []
    present = {e.index for e in t.entries}
    seen: set[int] = set()
    expected, prev_hash = 0, GENESIS
    for entry in t.entries:
        findings += _line_findings(t.name, entry, prev_hash)
        findings += _order_findings(t.name, entry, expected, present, seen)
        seen.add(entry.index)
        expected = max(expected, entry.index + 1)
        prev_hash = entry.hash
    return findings


def _line_findings(source: str, entry: Entry, prev_hash: str) -> list[Finding]:
    seq = entry.message.seq if entry.message else None
    out: list[Finding] = []
    if not entry.hash_ok:
        out.append(
            Finding("chain.edited", source, entry.lineno, seq, "content does not match its hash")
        )
    elif not entry.canonical:
        detail = "line is not in canonical form (reformatted or edited)"
        out.append(Finding("chain.edited", source, entry.lineno, seq, detail))
    if entry.prev != prev_hash:
        detail = (
            "link broken: 'prev' does not match the hash of the line before "
            "(a line before it was edited and rehashed, removed or moved)"
        )
        out.append(Finding("chain.link", source, entry.lineno, seq, detail))
    return out


def _order_findings(
    source: str, entry: Entry, expected: int, present: set[int], seen: set[int]
) -> list[Finding]:
    seq = entry.message.seq if entry.message else None
    idx = entry.index
    if idx == expected:
        return []
    if idx in seen:
        return [Finding("chain.duplicate", source, entry.lineno, seq, f"index {idx} repeated")]
    if idx < expected:
        detail = f"index {idx} appears after index {expected - 1}: line moved (reordered)"
        return [Finding("chain.reordered", source, entry.lineno, seq, detail)]
    gap = range(expected, idx)
    later = [i for i in gap if i in present]
    missing = [i for i in gap if i not in present]
    out = []
    if missing:
        detail = f"record(s) {_span(missing)} missing before this line (dropped)"
        out.append(Finding("chain.dropped", source, entry.lineno, seq, detail))
    if later:
        detail = f"record(s) {_span(later)} expected before this line appear later (reordered)"
        out.append(Finding("chain.reordered", source, entry.lineno, seq, detail))
    return out


def peer_findings(a: ParsedTranscript, b: ParsedTranscript) -> tuple[int, list[Finding]]:
    """Match A's sends with B's receipts and B's sends with A's receipts.

    Returns:
        The number of matched messages and the findings.
    """
    findings: list[Finding] = []
    if a.run_id != b.run_id:
        detail = f"run IDs differ ({a.run_id!r} here, {b.run_id!r} in {b.name})"
        findings.append(Finding("peer.run", a.name, 1, None, detail))
    if a.party == b.party:
        detail = f"both transcripts were written by {a.party!r}; expected two parties"
        findings.append(Finding("peer.party", a.name, 1, None, detail))
        return 0, findings
    matched = 0
    for sender, receiver in ((a, b), (b, a)):
        count, found = _match_direction(sender, receiver)
        matched += count
        findings += found
    return matched, findings


def _match_direction(
    sender: ParsedTranscript, receiver: ParsedTranscript
) -> tuple[int, list[Finding]]:
    sent = _by_seq(m for m in sender.messages if m.direction == "send" and m.peer == receiver.party)
    got = _by_seq(m for m in receiver.messages if m.direction == "recv" and m.peer == sender.party)
    matched, findings = 0, []
    for seq in sorted(set(sent) | set(got)):
        s_list, r_list = sent.get(seq, []), got.get(seq, [])
        findings += _conflicts(sender.name, s_list) + _conflicts(receiver.name, r_list)
        if not r_list:
            detail = f"sent {s_list[0].step!r} to {receiver.party!r}, who has no record of it"
            findings.append(Finding("peer.missing", sender.name, s_list[0].lineno, seq, detail))
        elif not s_list:
            detail = f"received {r_list[0].step!r} from {sender.party!r}, who never sent it"
            findings.append(Finding("peer.unsent", receiver.name, r_list[0].lineno, seq, detail))
        elif _fingerprint(s_list[0]) != _fingerprint(r_list[0]):
            findings.append(_mismatch(sender, receiver, s_list[0], r_list[0]))
        else:
            matched += 1
    return matched, findings


def _by_seq(messages: Iterable[Message]) -> dict[int, list[Message]]:
    out: dict[int, list[Message]] = defaultdict(list)
    for m in messages:
        out[m.seq].append(m)
    return out


def _fingerprint(m: Message) -> tuple[str, int, str]:
    return (m.step, m.size, m.sha256)


def _conflicts(source: str, same_seq: list[Message]) -> list[Finding]:
    first = same_seq[0] if same_seq else None
    return [
        Finding(
            "peer.conflict",
            source,
            m.lineno,
            m.seq,
            f"a different message with the same sequence number as line {first.lineno}",
        )
        for m in same_seq[1:]
        if first is not None and _fingerprint(m) != _fingerprint(first)
    ]


def _mismatch(
    sender: ParsedTranscript, receiver: ParsedTranscript, s: Message, r: Message
) -> Finding:
    fields = [
        name
        for name, x, y in (
            ("step", s.step, r.step),
            ("size", s.size, r.size),
            ("sha256", s.sha256, r.sha256),
        )
        if x != y
    ]
    detail = (
        f"{', '.join(fields)} differ(s) from {receiver.name} line {r.lineno}, "
        f"which received this message"
    )
    return Finding("peer.mismatch", sender.name, s.lineno, s.seq, detail)


def _span(indices: list[int]) -> str:
    if len(indices) == 1:
        return str(indices[0])
    return (
        f"{indices[0]}..{indices[-1]}"
        if indices == list(range(indices[0], indices[-1] + 1))
        else ", ".join(map(str, indices))
    )
