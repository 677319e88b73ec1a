"""`scan`: each kind of planted leak is caught and named; clean transcripts pass."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import phe
import pytest

from vfl.audit import (
    CiphertextBlob,
    PublicKeyRecord,
    ScanIds,
    Transcript,
    read_scan_ids,
    scan,
    scan_markdown,
    unrandomized_ciphertexts,
)
from vfl.errors import AuditError

IDS = [f"P{i:05d}" for i in range(1, 301)] + ["  Patient-Ünïcode  "]
LEAKED = "P00042"  # row 42


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, data: bytes) -> bytes:
    """One length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def envelope(step: str, seq: int) -> bytes:
    return field(1, field(1, b"r1") + field(2, b"imaging") + field(5, step.encode()))


@pytest.fixture(scope="module")
def keypair() -> tuple[phe.PaillierPublicKey, PublicKeyRecord]:
    pub, _ = phe.generate_paillier_keypair(n_length=512)
    return pub, PublicKeyRecord(owner="imaging", fingerprint="f1" * 16, n=pub.n)


def ciphertexts(pub: phe.PaillierPublicKey, values: list[int]) -> bytes:
    width = ((pub.n * pub.n).bit_length() + 7) // 8
    return b"".join(pub.raw_encrypt(v).to_bytes(width, "big") for v in values)


def unrandomized(pub: phe.PaillierPublicKey, m: int) -> bytes:
    n: int = pub.n
    width = ((n * n).bit_length() + 7) // 8
    return ((1 + m * n) % (n * n)).to_bytes(width, "big")


@pytest.fixture
def ids() -> ScanIds:
    return ScanIds(source="ids.csv", column="id", ids=IDS, rows=list(range(1, len(IDS) + 1)))


Record = Callable[..., Path]


@pytest.fixture
def record(
    tmp_path: Path, keypair: tuple[phe.PaillierPublicKey, PublicKeyRecord]
) -> Iterator[Record]:
    """Write one transcript holding a clean conversation plus `extra` (step, payload) pairs."""
    pub, key = keypair
    count = iter(range(100))

    def make(*extra: tuple[str, bytes], capture: bool = True, keys: bool = True) -> Path:
        path = tmp_path / f"t{next(count)}.jsonl"
        clean = [
            ("align.setup", envelope("align.setup", 0) + field(2, secrets.token_bytes(33 * 20))),
            ("train.forward", envelope("train.forward", 1) + field(2, ciphertexts(pub, [1, 2, 3]))),
            ("train.backward", envelope("train.backward", 2) + field(2, ciphertexts(pub, [0, 0]))),
        ]
        with Transcript(
            path, run_id="r1", party="imaging", capture=capture, keys=[key] if keys else []
        ) as t:
            for seq, (step, payload) in enumerate(clean + list(extra)):
                t.on_message(direction="send", peer="label", step=step, seq=seq, payload=payload)
        return path

    yield make


def _found(path: Path | list[Path], ids: ScanIds) -> list[tuple[str, int | None, int | None]]:
    paths = path if isinstance(path, list) else [path]
    return [(f.check, f.lineno, f.seq) for f in scan(paths, ids).findings]


def test_clean_transcript_passes(record: Record, ids: ScanIds) -> None:
    report = scan([record()], ids)
    assert report.ok, report.findings
    assert report.payloads == 3 and report.ciphertexts == 5
    assert report.needles > 20 * len(IDS)
    assert "**PASS**" in scan_markdown(report)


def _b64_inside(data: bytes) -> bytes:
    return base64.b64encode(b"xy" + data + b"zz")


ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "raw": lambda s: s.encode(),
    "hex": lambda s: s.encode().hex().encode(),
    "HEX": lambda s: s.encode().hex().upper().encode(),
    "base64": lambda s: base64.b64encode(s.encode()),
    "base64-unaligned": lambda s: _b64_inside(s.encode()),
    "md5-raw": lambda s: hashlib.md5(s.encode()).digest(),
    "md5-hex": lambda s: hashlib.md5(s.encode()).hexdigest().encode(),
    "sha1-raw": lambda s: hashlib.sha1(s.encode()).digest(),
    "sha1-hex": lambda s: hashlib.sha1(s.encode()).hexdigest().encode(),
    "sha256-raw": lambda s: hashlib.sha256(s.encode()).digest(),
    "sha256-HEX": lambda s: hashlib.sha256(s.encode()).hexdigest().upper().encode(),
    "sha256-base64": lambda s: base64.b64encode(hashlib.sha256(s.encode()).digest()),
    "sha256-base64url": lambda s: base64.urlsafe_b64encode(hashlib.sha256(s.encode()).digest()),
    "casefold": lambda s: s.casefold().encode(),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_id_leak_caught(record: Record, ids: ScanIds, encoding: str) -> None:
    leak = ENCODINGS[encoding](LEAKED)
    payload = envelope("align.request", 3) + field(3, secrets.token_bytes(50) + leak + b"\x00")
    path = record(("align.request", payload))
    report = scan([path], ids)
    assert [(f.check, f.lineno, f.seq) for f in report.findings] == [("scan.id-leak", 5, 3)]
    assert "row 42 of ids.csv" in report.findings[0].detail
    assert LEAKED not in scan_markdown(report)


@pytest.mark.parametrize(
    "form", ["Patient-Ünïcode", "patient-ünïcode", "  Patient-Ünïcode  ", "PATIENT-ÜNÏCODE"]
)
def test_normalized_forms_caught(record: Record, ids: ScanIds, form: str) -> None:
    data = hashlib.sha256(form.encode()).hexdigest().encode()
    path = record(("align.request", envelope("align.request", 3) + field(3, data)))
    found = _found(path, ids)
    if form == "PATIENT-ÜNÏCODE":  # upper-casing is not a normalization the protocol uses
        assert found == []
    else:
        assert found == [("scan.id-leak", 5, 3)]


def test_nfd_id_in_file_matches_nfc_on_wire(record: Record) -> None:
    nfd = "Jose\u0301-000123"
    ids = ScanIds(source="ids.csv", column="id", ids=[nfd], rows=[1])
    path = record(("align.request", field(3, "José-000123".encode())))
    assert _found(path, ids) == [("scan.id-leak", 5, 3)]


def test_unrandomized_ciphertext_caught(
    record: Record, ids: ScanIds, keypair: tuple[phe.PaillierPublicKey, PublicKeyRecord]
) -> None:
    pub, _ = keypair
    blob = ciphertexts(pub, [5, 6]) + unrandomized(pub, 7) + ciphertexts(pub, [8])
    path = record(("train.forward", envelope("train.forward", 3) + field(2, blob)))
    report = scan([path], ids)
    assert [(f.check, f.lineno, f.seq) for f in report.findings] == [("scan.unrandomized", 5, 3)]
    assert "first at index 2" in report.findings[0].detail
    assert "**FAIL**" in scan_markdown(report)


def test_unrandomized_function(keypair: tuple[phe.PaillierPublicKey, PublicKeyRecord]) -> None:
    pub, key = keypair
    blob = ciphertexts(pub, [1, 2]) + unrandomized(pub, 0) + unrandomized(pub, 12345)
    assert unrandomized_ciphertexts(blob, pub.n) == [2, 3]
    assert unrandomized_ciphertexts(blob, pub.n, key.width) == [2, 3]
    with pytest.raises(AuditError, match="not a multiple"):
        unrandomized_ciphertexts(blob[:-1], pub.n)


def test_unexpected_training_step_caught(record: Record, ids: ScanIds) -> None:
    path = record(("train.labels", envelope("train.labels", 3) + field(2, b"\x01\x00\x01")))
    assert _found(path, ids) == [("scan.step", 5, 3)]
    report = scan([path], ids, allowed_train_steps=["train.*"])
    assert report.ok


def test_repeated_ciphertext_caught(
    record: Record, ids: ScanIds, keypair: tuple[phe.PaillierPublicKey, PublicKeyRecord]
) -> None:
    pub, _ = keypair
    blob = ciphertexts(pub, [9])
    first = envelope("train.forward", 3) + field(2, blob)
    second = envelope("train.backward", 4) + field(2, blob)
    path = record(("train.forward", first), ("train.backward", second))
    assert _found(path, ids) == [("scan.repeated-ciphertext", 6, 4)]


def test_both_sides_of_one_message_scanned_once(
    record: Record, ids: ScanIds, tmp_path: Path
) -> None:
    a = record()
    b = tmp_path / "copy.jsonl"
    b.write_bytes(a.read_bytes())
    report = scan([a, b], ids)
    assert report.ok, report.findings
    assert report.payloads == 3


def test_registered_extractor_and_unknown_key(
    record: Record, ids: ScanIds, keypair: tuple[phe.PaillierPublicKey, PublicKeyRecord]
) -> None:
    pub, key = keypair
    blob = unrandomized(pub, 3)
    payload = b"custom:" + blob

    def extract(data: bytes) -> list[CiphertextBlob]:
        return [CiphertextBlob(key.fingerprint, data[7:], key.width)]

    def extract_other(data: bytes) -> list[CiphertextBlob]:
        return [CiphertextBlob("00" * 16, data[7:], key.width)]

    path = record(("train.backward_finish", payload))
    found = scan([path], ids, extractors={"train.backward_finish": extract}).findings
    assert [(f.check, f.lineno) for f in found] == [("scan.unrandomized", 5)]
    found = scan([path], ids, extractors={"train.backward_finish": extract_other}).findings
    assert [(f.check, f.lineno) for f in found] == [("scan.unknown-key", 5)]
    # without the extractor the custom payload is not protobuf: named, not a crash
    assert ("scan.unparsable", 5, 3) in _found(path, ids)


def test_peer_key_from_other_transcript(
    record: Record, ids: ScanIds, keypair: tuple[phe.PaillierPublicKey, PublicKeyRecord]
) -> None:
    pub, _ = keypair
    bad = record(("train.forward", field(2, unrandomized(pub, 1))), keys=False)
    assert ("scan.no-key", None, None) in _found(bad, ids)
    assert _found([bad, record()], ids) == [("scan.unrandomized", 5, 3)]


def test_nothing_captured(record: Record, ids: ScanIds) -> None:
    assert _found(record(capture=False), ids) == [("scan.nothing-captured", None, None)]


def test_edited_payload_reported(record: Record, ids: ScanIds) -> None:
    path = record()
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"payload":"C', b'"payload":"D')
    path.write_bytes(b"".join(lines))
    assert ("chain.payload", 2, 0) in _found(path, ids)


def test_read_scan_ids_csv_and_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = tmp_path / "ids.csv"
    csv.write_bytes(b"age,patient_id\n1,P1\n2,\n3,\xff\xfeX\n")
    got = read_scan_ids(csv, "patient_id")
    assert got.ids == ["P1", b"\xff\xfeX".decode("utf-8", "surrogateescape")]
    assert got.rows == [1, 3]
    assert read_scan_ids(csv).ids == ["1", "2", "3"]
    pq.write_table(pa.table({"pid": ["A1", None, "A3"]}), tmp_path / "ids.parquet")
    got = read_scan_ids(tmp_path / "ids.parquet", "pid")
    assert (got.ids, got.rows) == (["A1", "A3"], [1, 3])


def test_non_utf8_id_found_as_raw_bytes(record: Record, tmp_path: Path) -> None:
    csv = tmp_path / "ids.csv"
    csv.write_bytes(b"id\nAB\xff\xfe0001\n")
    path = record(("align.request", field(3, b"AB\xff\xfe0001")))
    assert _found(path, read_scan_ids(csv)) == [("scan.id-leak", 5, 3)]


def test_default_steps_cover_the_transport() -> None:
    from vfl.audit import DEFAULT_TRAIN_STEPS
    from vfl.transport._wire import STEPS

    assert set(STEPS.values()) == set(DEFAULT_TRAIN_STEPS)
