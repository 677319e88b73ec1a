"""Transcript writer: format, hash chain, capture, keys, locking and resume after a crash."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from psi.observer import WireObserver
from vfl.audit import PublicKeyRecord, Transcript, load_transcript, verify
from vfl.errors import AuditError

Pair = Callable[..., tuple[Path, Path]]


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_is_a_wire_observer(tmp_path: Path) -> None:
    with Transcript(tmp_path / "t.jsonl", run_id="r", party="p") as t:
        observer: WireObserver = t
        observer.on_message(direction="send", peer="q", step="s", seq=0, payload=b"x")
    assert len(_lines(tmp_path / "t.jsonl")) == 2


def test_lines_chain_and_capture(pair: Pair) -> None:
    a, _ = pair()
    lines = _lines(a)
    assert lines[0]["kind"] == "header" and lines[0]["party"] == "imaging"
    assert [line["index"] for line in lines] == list(range(len(lines)))
    for before, after in zip(lines, lines[1:], strict=False):
        assert after["prev"] == before["hash"]
    first = lines[1]
    assert first["direction"] == "send" and first["step"] == "align.setup"
    assert first["size"] == 5 and first["payload"] == "CgNhYmM="
    assert stat.S_IMODE(a.stat().st_mode) == 0o600
    assert verify(a).ok


def test_no_payload_without_capture(pair: Pair) -> None:
    a, _ = pair(capture=False)
    assert all("payload" not in line for line in _lines(a))
    assert verify(a).ok


def test_keys_in_header_and_later(tmp_path: Path) -> None:
    k1 = PublicKeyRecord(owner="imaging", fingerprint="aa11", n=0xC5)
    k2 = PublicKeyRecord(owner="label", fingerprint="bb22", n=0xD3)
    path = tmp_path / "t.jsonl"
    with Transcript(path, run_id="r", party="imaging", keys=[k1]) as t:
        t.add_key(k1)
        t.add_key(k2)
    parsed = load_transcript(path)
    assert parsed.keys == [k1, k2]
    assert _lines(path)[0]["keys"] == [{"owner": "imaging", "fingerprint": "aa11", "n": "c5"}]
    assert k1.width == 2


def test_threads_do_not_interleave(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with Transcript(path, run_id="r", party="p", capture=True) as t:

        def worker(base: int) -> None:
            for i in range(50):
                t.on_message(direction="recv", peer="q", step="s", seq=base + i, payload=b"z" * 999)

        threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert verify(path).ok
    assert len(load_transcript(path).messages) == 200


def test_second_writer_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with Transcript(path, run_id="r", party="p"):
        with pytest.raises(AuditError, match="in use"):
            Transcript(path, run_id="r", party="p")


def test_closed_transcript_refuses(tmp_path: Path) -> None:
    t = Transcript(tmp_path / "t.jsonl", run_id="r", party="p")
    t.close()
    t.close()
    with pytest.raises(AuditError, match="closed"):
        t.on_message(direction="send", peer="q", step="s", seq=0, payload=b"")


def test_resume_continues_chain(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with Transcript(path, run_id="r", party="p") as t:
        t.on_message(direction="send", peer="q", step="s", seq=0, payload=b"a")
    with Transcript(path, run_id="r", party="p") as t:
        t.on_message(direction="send", peer="q", step="s", seq=1, payload=b"b")
    kinds = [line["kind"] for line in _lines(path)]
    assert kinds == ["header", "msg", "resume", "msg"]
    assert verify(path).ok


def test_resume_drops_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with Transcript(path, run_id="r", party="p") as t:
        t.on_message(direction="send", peer="q", step="s", seq=0, payload=b"a")
    with path.open("ab") as handle:  # a crash in the middle of writing a line
        torn = b'{"kind":"msg","index":2,"pre'
        handle.write(torn)
    assert [f.check for f in verify(path).findings] == ["chain.torn"]
    with Transcript(path, run_id="r", party="p") as t:
        t.on_message(direction="send", peer="q", step="s", seq=1, payload=b"b")
    lines = _lines(path)
    assert lines[2]["kind"] == "resume" and lines[2]["truncated_bytes"] == len(torn)
    assert verify(path).ok


@pytest.mark.parametrize(("run_id", "party"), [("other", "p"), ("r", "other")])
def test_resume_refuses_other_run_or_party(tmp_path: Path, run_id: str, party: str) -> None:
    path = tmp_path / "t.jsonl"
    Transcript(path, run_id="r", party="p").close()
    with pytest.raises(AuditError, match="another run or party"):
        Transcript(path, run_id=run_id, party=party)


def test_resume_refuses_damaged_chain(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with Transcript(path, run_id="r", party="p") as t:
        t.on_message(direction="send", peer="q", step="s", seq=0, payload=b"a")
    path.write_text(path.read_text().replace('"seq":0', '"seq":7'))
    with pytest.raises(AuditError, match="damaged"):
        Transcript(path, run_id="r", party="p")


def test_not_a_transcript(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(AuditError, match="not a transcript"):
        load_transcript(bad)
    with pytest.raises(AuditError, match="cannot read"):
        load_transcript(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(AuditError, match="empty"):
        load_transcript(tmp_path / "empty.jsonl")
