"""Hostile input for the audit tools: malformed transcripts and payloads give a clear
`AuditError` (or a finding), never a crash; edits never go unnoticed; the fast search agrees
with a naive one.

Case counts are `EXAMPLES[target] * VFL_FUZZ_SCALE` (default scale 1); docs/SECURITY.md
records the counts of a scaled run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vfl.audit import ScanIds, Transcript, generic_extractor, load_transcript, scan, verify
from vfl.audit._needles import id_needles, needle_bytes
from vfl.audit._protowalk import length_delimited, parse_message
from vfl.audit._records import canonical, parse_line
from vfl.audit._search import NeedleIndex
from vfl.errors import AuditError

SCALE = int(os.environ.get("VFL_FUZZ_SCALE", "1"))
EXAMPLES = {
    "line_bytes": 400,
    "line_objects": 400,
    "transcript_mutation": 200,
    "protobuf_bytes": 600,
    "protobuf_roundtrip": 300,
    "search": 100,
    "scan_payloads": 30,
}


def _settings(target: str) -> settings:
    return settings(
        max_examples=EXAMPLES[target] * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@_settings("line_bytes")
@given(st.binary(max_size=400))
def test_parse_line_bytes(raw: bytes) -> None:
    try:
        parse_line(raw, 7)
    except AuditError as exc:
        assert str(exc).startswith("line 7:")


FIELDS = [
    "kind", "index", "prev", "hash", "seq", "time", "direction", "peer", "step", "size",
    "sha256", "payload", "run_id", "party", "version", "capture", "keys", "owner",
    "fingerprint", "n", "truncated_bytes", "extra",
]  # fmt: skip
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.sampled_from(["msg", "header", "key", "resume", "send", "recv", "0" * 64, "ab", "=="])
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS), children, max_size=3)
    ),
    max_leaves=8,
)


@_settings("line_objects")
@given(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS)))
def test_parse_line_objects(obj: dict[str, object]) -> None:
    try:
        raw = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return
    try:
        entry = parse_line(raw, 3)
    except AuditError:
        return
    assert entry.kind in ("header", "key", "msg", "resume")
    assert entry.canonical == (canonical(dict(entry.body)) == raw)


@pytest.fixture(scope="module")
def sample_transcript(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "t.jsonl"
    with Transcript(path, run_id="r", party="imaging", capture=True) as t:
        for seq in range(4):
            t.on_message(
                direction="send", peer="label", step="s", seq=seq, payload=bytes([seq]) * 5
            )
    return path.read_bytes()


@_settings("transcript_mutation")
@given(data=st.data())
def test_transcript_single_byte_edit_always_found(
    sample_transcript: bytes, tmp_path: Path, data: st.DataObject
) -> None:
    pos = data.draw(st.integers(0, len(sample_transcript) - 1))
    byte = data.draw(st.integers(0, 255))
    assume(sample_transcript[pos] != byte)
    mutated = bytearray(sample_transcript)
    mutated[pos] = byte
    path = tmp_path / f"m{pos}_{byte}.jsonl"
    path.write_bytes(bytes(mutated))
    try:
        report = verify(path)
    except AuditError:
        return  # the header itself was broken: refused as "not a transcript"
    assert report.findings, "an edited byte went unnoticed"


@_settings("transcript_mutation")
@given(chunks=st.lists(st.binary(max_size=60), max_size=6), cut=st.integers(0, 2000))
def test_transcript_garbage_spliced(
    sample_transcript: bytes, tmp_path: Path, chunks: list[bytes], cut: int
) -> None:
    cut = min(cut, len(sample_transcript))
    path = tmp_path / "g.jsonl"
    spliced = sample_transcript[:cut] + b"\n".join(chunks) + sample_transcript[cut:]
    path.write_bytes(spliced)
    try:
        parsed = load_transcript(path, keep_payloads=True)
        report = verify(path)
    except AuditError:
        return
    if spliced == sample_transcript:
        assert parsed.party == "imaging" and not report.findings
    else:
        # Anything spliced in that still parses (even inside the header) must be noticed.
        assert report.findings, "spliced bytes went unnoticed"


@_settings("protobuf_bytes")
@given(st.binary(max_size=300))
def test_protobuf_walk_arbitrary_bytes(raw: bytes) -> None:
    try:
        values = list(length_delimited(raw))
    except AuditError as exc:
        assert str(exc).startswith("protobuf:")
        return
    assert all(len(v) <= len(raw) for v in values)
    for width in (4, 16):
        for blob in generic_extractor([width])(raw):
            assert len(blob.blob) % width == 0 and len(blob.blob) >= width


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _encode(fields: list[tuple[int, int, object]]) -> bytes:
    out = bytearray()
    for number, wire_type, value in fields:
        out += _varint(number << 3 | wire_type)
        if wire_type == 0:
            assert isinstance(value, int)
            out += _varint(value)
        elif wire_type == 2:
            body = _encode(value) if isinstance(value, list) else value
            assert isinstance(body, bytes)
            out += _varint(len(body)) + body
        else:
            assert isinstance(value, bytes)
            out += value
    return bytes(out)


NUMBERS = st.integers(1, 2**29 - 1)
MESSAGES = st.recursive(
    st.lists(
        st.tuples(NUMBERS, st.just(0), st.integers(0, 2**64 - 1))
        | st.tuples(NUMBERS, st.just(2), st.binary(max_size=40))
        | st.tuples(NUMBERS, st.just(1), st.binary(min_size=8, max_size=8))
        | st.tuples(NUMBERS, st.just(5), st.binary(min_size=4, max_size=4)),
        max_size=5,
    ),
    lambda inner: st.lists(st.tuples(NUMBERS, st.just(2), inner), max_size=3),
    max_leaves=10,
)


@_settings("protobuf_roundtrip")
@given(MESSAGES, st.binary(min_size=32, max_size=32))
def test_protobuf_walk_finds_nested_blob(
    fields: list[tuple[int, int, object]], blob: bytes
) -> None:
    raw = _encode([(1, 2, [*fields, (9, 2, blob)]), *fields])
    assert len(parse_message(raw)) == 1 + len(fields)
    assert blob in {bytes(v) for v in length_delimited(raw)}
    assert blob in {b.blob for b in generic_extractor([16])(raw)}


ID_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12
)


@_settings("search")
@given(
    ids=st.lists(ID_TEXT, min_size=1, max_size=8, unique=True),
    noise=st.binary(max_size=200),
    planted=st.integers(0, 7),
    which=st.integers(0, 200),
)
def test_search_agrees_with_naive(ids: list[str], noise: bytes, planted: int, which: int) -> None:
    assert set(needle_bytes(ids[0])) == {n.data for n in id_needles(ids[0])}
    needles = id_needles(ids[planted % len(ids)])
    chosen = needles[which % len(needles)]
    needle = chosen.data
    payload = noise[: len(noise) // 2] + needle + noise[len(noise) // 2 :]
    index = NeedleIndex(ids, min_length=4)
    found = {(h.id_row, h.offset) for h in index.find(payload, limit=10_000)}
    naive = {
        (row, i)
        for row, text in enumerate(ids)
        for n in id_needles(text)
        if len(n.data) >= 4
        for i in range(len(payload) - len(n.data) + 1)
        if payload[i : i + len(n.data)] == n.data and n.fits(payload, i)
    }
    assert found == naive
    if len(needle) >= 4 and chosen.fits(payload, len(noise) // 2):
        assert (planted % len(ids), len(noise) // 2) in found


@_settings("scan_payloads")
@given(st.lists(st.tuples(st.sampled_from(["align.x", "train.forward"]), st.binary(max_size=300))))
def test_scan_survives_arbitrary_payloads(
    tmp_path_factory: pytest.TempPathFactory, messages: list[tuple[str, bytes]]
) -> None:
    path = tmp_path_factory.mktemp("scan") / "t.jsonl"
    with Transcript(path, run_id="r", party="p", capture=True) as t:
        for seq, (step, payload) in enumerate(messages):
            t.on_message(direction="recv", peer="q", step=step, seq=seq, payload=payload)
    ids = ScanIds(source="ids.csv", column="id", ids=["P000001", "P000002"], rows=[1, 2])
    report = scan([path], ids)
    allowed = {"scan.unparsable", "scan.no-key", "scan.nothing-captured", "scan.id-leak"}
    assert {f.check for f in report.findings} <= allowed
