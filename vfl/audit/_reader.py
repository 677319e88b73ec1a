"""Read a transcript line by line, keeping malformed lines as findings instead of stopping.

Transcripts with captured payloads can be large, so lines are streamed; `load_transcript`
keeps the metadata (and, only when asked, the payloads) of every line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vfl.audit._findings import Finding
from vfl.audit._records import Entry, Message, PublicKeyRecord, parse_line
from vfl.errors import AuditError

__all__ = ["ParsedTranscript", "iter_lines", "load_transcript"]


@dataclass
class ParsedTranscript:
    """A transcript's header, its parsed lines and the lines that could not be parsed.

    Attributes:
        path: the file.
        run_id: the run the header names.
        party: the identity of the party that wrote it.
        capture: whether the writer captured payloads.
        entries: every parseable line, header first, in file order.
        problems: malformed, torn or inconsistent lines, as findings.
    """

    path: Path
    run_id: str
    party: str
    capture: bool
    entries: list[Entry] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The file name used in findings."""
        return self.path.name

    @property
    def messages(self) -> list[Message]:
        """The recorded wire messages, in file order."""
        return [e.message for e in self.entries if e.message is not None]

    @property
    def keys(self) -> list[PublicKeyRecord]:
        """Every public key the header and key lines record."""
        return [k for e in self.entries for k in e.keys]


def iter_lines(path: Path) -> Iterator[Entry | Finding]:
    """Yield each line of `path` as an `Entry`, or as a `Finding` when it is malformed.

    The first yielded item is always the header entry; a payload that does not match its
    recorded size and digest yields a finding right after its entry.

    Raises:
        AuditError: the file cannot be read or its first line is not a transcript header.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise AuditError(f"cannot read transcript {path}: {exc.strerror or exc}") from exc
    with handle:
        first = handle.readline()
        yield _header(first, path)
        lineno = 1
        for raw in handle:
            lineno += 1
            yield from _line(raw, lineno, path.name)


def load_transcript(path: Path, *, keep_payloads: bool = False) -> ParsedTranscript:
    """Read a whole transcript; payloads are checked against their digests, then dropped.

    Raises:
        AuditError: the file cannot be read or does not start with a transcript header.
    """
    items = iter_lines(path)
    header = next(items)
    if not isinstance(header, Entry):  # iter_lines yields the header first or raises
        raise AuditError(f"{path.name}: no header")
    parsed = ParsedTranscript(
        path=path,
        run_id=header.body["run_id"],
        party=header.body["party"],
        capture=header.body["capture"],
        entries=[header],
    )
    for item in items:
        if isinstance(item, Finding):
            parsed.problems.append(item)
        elif keep_payloads or item.message is None or item.message.payload is None:
            parsed.entries.append(item)
        else:
            slim = dataclasses.replace(item.message, payload=None)
            parsed.entries.append(dataclasses.replace(item, message=slim))
    return parsed


def _header(raw: bytes, path: Path) -> Entry:
    if not raw:
        raise AuditError(f"{path.name} is empty: not a transcript")
    if not raw.endswith(b"\n"):
        raise AuditError(f"{path.name}: the header line is torn (no newline)")
    try:
        entry = parse_line(raw[:-1], 1)
    except AuditError as exc:
        raise AuditError(f"{path.name} is not a transcript: {exc}") from exc
    if entry.kind != "header":
        raise AuditError(f"{path.name} is not a transcript: line 1 is not a header")
    return entry


def _line(raw: bytes, lineno: int, source: str) -> Iterator[Entry | Finding]:
    if not raw.endswith(b"\n"):
        detail = f"torn last line ({len(raw)} bytes without newline; writer crashed?)"
        yield Finding("chain.torn", source, lineno, None, detail)
        return
    try:
        entry = parse_line(raw[:-1], lineno)
    except AuditError as exc:
        yield Finding("chain.malformed", source, lineno, None, str(exc))
        return
    yield entry
    if entry.kind == "header":
        yield Finding("chain.malformed", source, lineno, None, "a second header line")
    message = entry.message
    if message is not None and message.payload_matches is False:
        detail = "captured payload does not match its recorded size and SHA-256 (edited)"
        yield Finding("chain.payload", source, lineno, message.seq, detail)
