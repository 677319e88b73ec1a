"""`verify`: chain integrity and message-by-message agreement of two parties' transcripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from vfl.audit import verify
from vfl.audit._records import seal

Pair = Callable[..., tuple[Path, Path]]


def _rewrite(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    lines = path.read_text().splitlines()
    path.write_text("".join(line + "\n" for line in edit(lines)))


def _checks(path: Path, peer: Path | None = None) -> list[tuple[str, int | None, int | None]]:
    return [(f.check, f.lineno, f.seq) for f in verify(path, peer).findings]


def test_clean_pair_matches(pair: Pair) -> None:
    a, b = pair()
    report = verify(a, b)
    assert report.ok, report.findings
    assert report.matched == 5
    assert [t["party"] for t in report.transcripts] == ["imaging", "label"]
    last = json.loads(a.read_text().splitlines()[-1])
    assert report.transcripts[0]["head"] == last["hash"]


def test_edited_line_named(pair: Pair) -> None:
    a, _ = pair()
    _rewrite(a, lambda ls: [*ls[:2], ls[2].replace("align.request", "align.other"), *ls[3:]])
    assert _checks(a) == [("chain.edited", 3, 0)]


def test_edited_and_rehashed_line_breaks_next_link(pair: Pair) -> None:
    a, _ = pair()

    def rehash(lines: list[str]) -> list[str]:
        obj = json.loads(lines[3])
        obj["step"] = "align.other"
        del obj["hash"]
        lines[3] = seal(obj).decode().rstrip("\n")
        return lines

    _rewrite(a, rehash)
    assert _checks(a) == [("chain.link", 5, 2)]


def test_rehashed_whole_chain_caught_by_peer(pair: Pair) -> None:
    a, b = pair()

    def rewrite_chain(lines: list[str]) -> list[str]:
        out, prev = [], None
        for line in lines:
            obj = json.loads(line)
            if obj.get("step") == "train.forward" and obj.get("direction") == "send":
                obj["sha256"] = "0" * 64
                obj.pop("payload", None)
            if prev is not None:
                obj["prev"] = prev
            del obj["hash"]
            sealed = seal(obj).decode().rstrip("\n")
            prev = json.loads(sealed)["hash"]
            out.append(sealed)
        return out

    _rewrite(a, rewrite_chain)
    assert _checks(a) == []
    found = verify(a, b).findings
    assert [(f.check, f.source, f.lineno, f.seq) for f in found] == [
        ("peer.mismatch", "imaging.jsonl", 5, 2)
    ]
    assert "sha256" in found[0].detail and "label.jsonl line 5" in found[0].detail


def test_dropped_line_named(pair: Pair) -> None:
    a, b = pair()
    _rewrite(a, lambda ls: ls[:3] + ls[4:])
    assert _checks(a) == [("chain.link", 4, 2), ("chain.dropped", 4, 2)]
    peer = [
        (f.check, f.source, f.lineno, f.seq) for f in verify(a, b).findings if "peer" in f.check
    ]
    assert peer == [("peer.unsent", "label.jsonl", 4, 1)]


def test_reordered_lines_named(pair: Pair) -> None:
    a, _ = pair()
    _rewrite(a, lambda ls: [ls[0], ls[2], ls[1], *ls[3:]])
    checks = _checks(a)
    assert ("chain.reordered", 2, 0) in checks
    assert ("chain.reordered", 3, 0) in checks
    assert all(line in (2, 3, 4) for _, line, _ in checks)


def test_edited_payload_named(pair: Pair) -> None:
    a, _ = pair()

    def swap_payload(lines: list[str]) -> list[str]:
        obj = json.loads(lines[1])
        obj["payload"] = "CgNhYmQ="
        del obj["hash"]
        lines[1] = seal(obj).decode().rstrip("\n")
        return lines

    _rewrite(a, swap_payload)
    assert ("chain.payload", 2, 0) in _checks(a)


def test_malformed_and_reformatted_lines(pair: Pair) -> None:
    a, _ = pair()
    _rewrite(a, lambda ls: [ls[0], "{not json", ls[1].replace(":", ": ", 1), *ls[2:]])
    checks = _checks(a)
    assert ("chain.malformed", 2, None) in checks
    assert ("chain.edited", 3, 0) in checks


def test_peer_missing_and_conflict(pair: Pair) -> None:
    conv = [("imaging", "train.forward", b"a"), ("imaging", "train.forward", b"b")]
    a, b = pair(conv)
    _rewrite(b, lambda ls: ls[:2])  # label lost the second message (chain intact)
    found = verify(a, b).findings
    assert [(f.check, f.source, f.lineno, f.seq) for f in found] == [
        ("peer.missing", "imaging.jsonl", 3, 1)
    ]


def test_same_party_twice(pair: Pair) -> None:
    a, _ = pair()
    assert [f.check for f in verify(a, a).findings] == ["peer.party"]


def test_retransmission_ok_but_conflicting_seq_named(tmp_path: Path) -> None:
    from vfl.audit import Transcript

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with (
        Transcript(a, run_id="r", party="imaging") as ta,
        Transcript(b, run_id="r", party="label") as tb,
    ):
        for payload in (b"x", b"x"):  # a retry of the same message
            ta.on_message(direction="send", peer="label", step="s", seq=0, payload=payload)
        tb.on_message(direction="recv", peer="imaging", step="s", seq=0, payload=b"x")
        ta.on_message(direction="send", peer="label", step="s", seq=1, payload=b"y")
        ta.on_message(direction="send", peer="label", step="s", seq=1, payload=b"z")
        tb.on_message(direction="recv", peer="imaging", step="s", seq=1, payload=b"y")
    found = verify(a, b).findings
    assert [(f.check, f.source, f.lineno, f.seq) for f in found] == [
        ("peer.conflict", "a.jsonl", 5, 1)
    ]


def test_label_with_two_feature_parties(tmp_path: Path) -> None:
    from vfl.audit import Transcript

    paths = {name: tmp_path / f"{name}.jsonl" for name in ("label", "imaging", "genomics")}
    with (
        Transcript(paths["label"], run_id="r", party="label") as label,
        Transcript(paths["imaging"], run_id="r", party="imaging") as imaging,
        Transcript(paths["genomics"], run_id="r", party="genomics") as genomics,
    ):
        for seq, (name, side) in enumerate([("imaging", imaging), ("genomics", genomics)] * 3):
            payload = f"{name}-{seq}".encode()
            side.on_message(direction="send", peer="label", step="s", seq=seq, payload=payload)
            label.on_message(direction="recv", peer=name, step="s", seq=seq, payload=payload)
            label.on_message(direction="send", peer=name, step="s", seq=seq, payload=b"ok")
            side.on_message(direction="recv", peer="label", step="s", seq=seq, payload=b"ok")
    for name in ("imaging", "genomics"):
        report = verify(paths["label"], paths[name])
        assert report.ok, report.findings
        assert report.matched == 6
    found = verify(paths["imaging"], paths["genomics"]).findings
    assert found == []  # they never talk to each other: nothing to match, nothing wrong
