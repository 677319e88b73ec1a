"""`vfl align` between real processes over real gRPC on loopback ports.

Every party is its own `vfl align` process (via `vfl.party.launch.run_parties`): the label party
is waited for with `grpc.channel_ready_future`, and every process is killed in `finally`.
Outputs are checked against a plain set intersection.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from vfl.party.launch import PartyProcess, free_port, run_parties, wait_listening, write_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "psi"))
from psi_leakscan import leaks  # noqa: E402

EXIT_CONFIG, EXIT_INPUT, EXIT_PEER, EXIT_ALIGN = 2, 3, 4, 5


def cohort(prefix: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{prefix}-{rng.getrandbits(44):011x}" for _ in range(n)]


def shuffled(items: Sequence[str], seed: int) -> list[str]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out


class Study:
    """Writes ID files and configs for one label party and N feature parties."""

    def __init__(self, tmp: Path, port: int | None = None) -> None:
        self.tmp, self.port = tmp, port or free_port()
        self.ids: dict[str, list[str]] = {}
        self.configs: dict[str, Path] = {}

    def party(
        self,
        name: str,
        role: str,
        ids: Sequence[str],
        *,
        features: Sequence[str] = (),
        align: Mapping[str, Any] | None = None,
        network: Mapping[str, Any] | None = None,
        party: Mapping[str, Any] | None = None,
        peer_port: int | None = None,
    ) -> Path:
        self.ids[name] = list(ids)
        ids_file = self.tmp / f"{name}_ids.csv"
        ids_file.write_text("patient_id\n" + "\n".join(ids) + "\n", encoding="utf-8")
        net: dict[str, Any] = {"timeout_s": 10, "wait_s": 30, "peer_name": "label"}
        if role == "label":
            net.update(listen=f"127.0.0.1:{self.port}", feature_parties=list(features))
        else:
            net.update(peer=f"127.0.0.1:{peer_port or self.port}")
        net.update(network or {})
        sections = {
            "party": {
                "name": name,
                "role": role,
                "run_id": "study-1",
                "workdir": f"runs/{name}",
                **(party or {}),
            },
            "network": net,
            "align": {"ids_file": ids_file.name, "id_column": "patient_id", **(align or {})},
        }
        self.configs[name] = write_config(self.tmp / f"{name}.toml", sections)
        return self.configs[name]

    def run(
        self,
        features: Sequence[str] | None = None,
        timeout_s: float = 240,
        args: Sequence[str] = (),
    ) -> dict[str, PartyProcess]:
        names = list(
            features if features is not None else [n for n in self.configs if n != "label"]
        )
        runs = run_parties(
            self.configs["label"],
            [self.configs[n] for n in names],
            label_address=f"127.0.0.1:{self.port}",
            args=["--insecure", *args],
            logs=self.tmp / "logs",
            timeout_s=timeout_s,
        )
        return dict(zip(["label", *names], runs, strict=True))

    def workdir(self, name: str) -> Path:
        return self.tmp / "runs" / name

    def aligned_ids(self, name: str) -> list[str]:
        rows = pq.read_table(self.workdir(name) / "aligned.parquet")["row"].to_pylist()
        return [self.ids[name][r] for r in rows]


def assert_ok(runs: Mapping[str, PartyProcess]) -> None:
    for name, r in runs.items():
        assert r.returncode == 0, f"{name}: {r.stderr[-3000:]}"


def test_two_parties_partial_overlap(tmp_path: Path) -> None:
    common = cohort("PAT", 400, 1)
    s = Study(tmp_path)
    s.party("label", "label", shuffled(common + cohort("L", 300, 2), 3), features=["imaging"])
    s.party("imaging", "feature", shuffled(common + cohort("I", 600, 4), 5))
    runs = s.run()
    assert_ok(runs)
    expected = sorted(set(s.ids["label"]) & set(s.ids["imaging"]))
    assert s.aligned_ids("label") == s.aligned_ids("imaging") == expected
    summaries = {n: r.summary() for n, r in runs.items()}  # --format json on stdout
    assert summaries["label"]["sizes"]["final"] == summaries["imaging"]["sizes"]["final"] == 400
    assert summaries["label"]["digest"] == summaries["imaging"]["digest"]
    on_disk = json.loads((s.workdir("imaging") / "alignment.json").read_text())
    assert on_disk["protocol_version"] == 1 and on_disk["policy"]["visibility"] == "both"
    assert "INSECURE" in runs["imaging"].stderr  # --insecure warns loudly


def test_three_parties_and_a_tiny_one(tmp_path: Path) -> None:
    common = cohort("PAT", 120, 1)
    s = Study(tmp_path)
    s.party(
        "label",
        "label",
        shuffled(common + cohort("L", 2000, 2), 3),
        features=["imaging", "genomics"],
    )
    s.party(
        "imaging",
        "feature",
        shuffled(common + cohort("L", 2000, 2)[:500] + cohort("I", 1500, 4), 5),
    )
    s.party("genomics", "feature", shuffled(common + cohort("G", 10, 6), 7))  # the tiny party
    runs = s.run()
    assert_ok(runs)
    expected = sorted(set(s.ids["label"]) & set(s.ids["imaging"]) & set(s.ids["genomics"]))
    assert len(expected) == 120
    for name in ("label", "imaging", "genomics"):
        assert s.aligned_ids(name) == expected
    assert runs["label"].summary()["sizes"]["pairwise"] == {"imaging": 620, "genomics": 120}


def test_full_overlap(tmp_path: Path) -> None:
    ids = cohort("PAT", 500, 1)
    s = Study(tmp_path)
    s.party("label", "label", shuffled(ids, 2), features=["imaging"])
    s.party("imaging", "feature", shuffled(ids, 3))
    runs = s.run()
    assert_ok(runs)
    assert s.aligned_ids("label") == s.aligned_ids("imaging") == sorted(ids)


def test_no_overlap_is_refused_by_the_minimum_and_a_rerun_starts_clean(tmp_path: Path) -> None:
    common = cohort("PAT", 150, 1)
    s = Study(tmp_path)
    s.party("label", "label", common + cohort("L", 100, 2), features=["imaging"])
    s.party("imaging", "feature", common + cohort("I", 100, 3))
    assert_ok(s.run())
    assert (s.workdir("imaging") / "aligned.parquet").exists()
    # same parties, now without overlap: everybody stops, nothing (not even the old output) stays
    s.party("imaging", "feature", cohort("I", 300, 4))
    runs = s.run()
    for name, r in runs.items():
        assert r.returncode == EXIT_ALIGN, r.stderr
        assert "below the minimum 100" in r.stderr
        assert "Traceback" not in r.stderr
        assert list(s.workdir(name).iterdir()) == []


def test_unicode_variants_and_case_folding(tmp_path: Path) -> None:
    base = cohort("PAT", 120, 1)
    nfc = ["Jos\u00e9 \u00c5ngstr\u00f6m", "Zo\u00eb", "\u00c7elik-\u00f1"]
    nfd = ["  Jose\u0301 A\u030angstro\u0308m", "Zoe\u0308\t", "C\u0327elik-n\u0303 "]
    s = Study(tmp_path)
    s.party(
        "label",
        "label",
        base + nfc + ["MIXED-Case"],
        features=["imaging"],
        align={"case_fold": True},
    )
    s.party("imaging", "feature", nfd + ["mixed-case"] + base[::-1], align={"case_fold": True})
    runs = s.run()
    assert_ok(runs)
    label_rows = pq.read_table(s.workdir("label") / "aligned.parquet")["row"].to_pylist()
    feat_rows = pq.read_table(s.workdir("imaging") / "aligned.parquet")["row"].to_pylist()
    assert len(label_rows) == len(feat_rows) == 124
    from psi.ids import normalize

    pairs = {
        (
            normalize(s.ids["label"][a], case_fold=True),
            normalize(s.ids["imaging"][b], case_fold=True),
        )
        for a, b in zip(label_rows, feat_rows, strict=True)
    }
    assert all(x == y for x, y in pairs)


def test_duplicates_are_an_error_or_dropped_by_policy(tmp_path: Path) -> None:
    common = cohort("PAT", 150, 1)
    s = Study(tmp_path)
    s.party("label", "label", common, features=["imaging"], network={"wait_s": 5})
    s.party("imaging", "feature", common + common[:3] + ["", "  "])
    runs = s.run()
    err = runs["imaging"].stderr
    assert runs["imaging"].returncode == EXIT_INPUT
    # "" is a blank line (not a row, as in pandas); "  " is a row with an empty ID
    assert "6 duplicate" in err and "1 empty" in err and "imaging_ids.csv" in err
    assert not any(pid in err for pid in common)
    s.party("label", "label", common, features=["imaging"], align={"on_invalid": "drop"})
    s.party("imaging", "feature", common + common[:3] + ["", "  "], align={"on_invalid": "drop"})
    runs = s.run()
    assert_ok(runs)
    assert runs["imaging"].summary()["dropped"] == {"duplicate": 6, "empty": 1}
    assert s.aligned_ids("imaging") == sorted(common[3:])


class TcpTap:
    """A TCP proxy that forwards to `target` and keeps every byte, both directions."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.chunks: list[bytes] = []
        self.lock = threading.Lock()
        self.seen = 0
        self.threshold = 1 << 62
        self.reached = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:  # the target is gone: refuse, as it would
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                with self.lock:
                    self.chunks.append(data)
                    self.seen += len(data)
                    if self.seen >= self.threshold:
                        self.reached.set()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def captured(self) -> bytes:
        with self.lock:
            return b"".join(self.chunks)

    def close(self) -> None:
        self.sock.close()
        with self.lock:
            for s in self.sockets:
                s.close()


def test_raw_tcp_capture_between_processes_holds_no_id(tmp_path: Path) -> None:
    common = cohort("PAT", 200, 1)
    s = Study(tmp_path)
    tap = TcpTap(s.port)
    try:
        s.party("label", "label", common + cohort("L", 200, 2), features=["imaging"])
        s.party("imaging", "feature", common + cohort("I", 200, 3), peer_port=tap.port)
        assert_ok(s.run())
        wire = tap.captured()
    finally:
        tap.close()
    assert len(wire) > 33 * (3 * 400 + 200)  # setup, request, response, final points
    assert b"align.setup" in wire  # and it is the plaintext gRPC stream (insecure mode)
    assert leaks([wire], s.ids["label"] + s.ids["imaging"]) == 0


def vfl(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from vfl.cli import main; main()", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_unreachable_label_party_names_address_and_timeout(tmp_path: Path) -> None:
    s = Study(tmp_path)
    cfg = s.party("imaging", "feature", cohort("P", 10, 1), network={"timeout_s": 1})
    r = vfl("align", "--config", str(cfg), "--insecure", cwd=tmp_path)
    assert r.returncode == EXIT_PEER
    assert f"127.0.0.1:{s.port}" in r.stderr and "within 1 s" in r.stderr
    assert "Traceback" not in r.stderr


def test_peer_on_another_run_or_policy_is_refused(tmp_path: Path) -> None:
    ids = cohort("PAT", 150, 1)
    s = Study(tmp_path)
    s.party("label", "label", ids, features=["imaging"], network={"wait_s": 3})
    s.party("imaging", "feature", ids, party={"run_id": "study-2"})
    runs = s.run()
    assert runs["imaging"].returncode == EXIT_PEER
    assert "refused" in runs["imaging"].stderr and "study-2" in runs["imaging"].stderr
    assert runs["label"].returncode == EXIT_PEER and "never joined" in runs["label"].stderr
    s.party("imaging", "feature", ids, align={"min_intersection": 5})
    runs = s.run()
    assert runs["imaging"].returncode == EXIT_PEER and "policy mismatch" in runs["imaging"].stderr


def test_config_mistakes_are_reported_together(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[party]\nname = "x"\nrole = "boss"\n\n'
        '[network]\ntimeout_s = -1\n\n[align]\nvisibility = "all"\n'
    )
    r = vfl("align", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == EXIT_CONFIG
    for needle in (
        "role must be one of",
        "run_id is required",
        "workdir is required",
        "timeout_s must be positive",
        "visibility must be one of",
        "ids_file is required",
        "ca_cert is required",
    ):
        assert needle in r.stderr
    assert "Traceback" not in r.stderr
    r = vfl("align", "--config", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert r.returncode == EXIT_CONFIG and "not found" in r.stderr


def test_missing_file_or_column_is_a_clear_input_error(tmp_path: Path) -> None:
    s = Study(tmp_path)
    cfg = s.party("imaging", "feature", cohort("P", 10, 1), align={"id_column": "mrn"})
    r = vfl("align", "--config", str(cfg), "--insecure", cwd=tmp_path)
    assert r.returncode == EXIT_INPUT and "column 'mrn' not found" in r.stderr
    cfg = s.party("imaging", "feature", [], align={"ids_file": "nope.csv"})
    r = vfl("align", "--config", str(cfg), "--insecure", cwd=tmp_path)
    assert r.returncode == EXIT_INPUT and "nope.csv" in r.stderr


def test_help_explains_the_command(tmp_path: Path) -> None:
    r = vfl("align", "--help", cwd=tmp_path)
    assert r.returncode == 0
    for needle in (
        "--config",
        "--format",
        "--insecure",
        "visibility",
        "aligned.parquet",
        "min_intersection",
    ):
        assert needle in r.stdout


@pytest.mark.slow
def test_100k_ids_per_side(tmp_path: Path) -> None:
    common = cohort("PAT", 50_000, 1)
    s = Study(tmp_path)
    s.party(
        "label",
        "label",
        shuffled(common + cohort("L", 50_000, 2), 3),
        features=["imaging"],
        network={"timeout_s": 60},
    )
    s.party(
        "imaging",
        "feature",
        shuffled(common + cohort("I", 50_000, 4), 5),
        network={"timeout_s": 60},
    )
    runs = s.run(timeout_s=900)
    assert_ok(runs)
    assert s.aligned_ids("label") == s.aligned_ids("imaging") == sorted(common)


def test_transcripts_of_both_sides_verify_and_match(tmp_path: Path) -> None:
    """`--transcript` hands the audit trail to the wire observer of each real process."""
    from vfl.audit import load_transcript, verify

    common = cohort("PAT", 150, 1)
    s = Study(tmp_path)
    s.party("label", "label", common + cohort("L", 50, 2), features=["imaging"])
    s.party("imaging", "feature", common + cohort("I", 50, 3))
    port = s.port
    label_tr, feat_tr = tmp_path / "label.jsonl", tmp_path / "imaging.jsonl"
    label_cmd = ["--insecure", "--transcript", str(label_tr), "--capture-payloads"]
    feat_cmd = ["--insecure", "--transcript", str(feat_tr), "--capture-payloads"]
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from vfl.cli import main; main()",
                    "align",
                    "--config",
                    str(s.configs["label"]),
                    *label_cmd,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
        wait_listening(f"127.0.0.1:{port}", 30)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from vfl.cli import main; main()",
                    "align",
                    "--config",
                    str(s.configs["imaging"]),
                    *feat_cmd,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    report = verify(label_tr, feat_tr)
    assert report.ok, report.findings
    parsed = load_transcript(feat_tr, keep_payloads=True)
    messages = [e.message for e in parsed.entries if e.message is not None]
    assert report.matched == len(messages) > 6
    assert leaks([m.payload for m in messages if m.payload], s.ids["label"] + s.ids["imaging"]) == 0


def test_three_processes_over_mutual_tls(tmp_path: Path) -> None:
    """The default, secure path: certificates from `vfl certs`, no --insecure anywhere."""
    from vfl.party.launch import prepare_alignment, probe_credentials

    port = free_port()
    label, features = prepare_alignment(tmp_path, 400, 150, port, features=["imaging", "genomics"])
    runs = run_parties(
        label,
        features,
        label_address=f"127.0.0.1:{port}",
        logs=tmp_path / "logs",
        credentials=probe_credentials(tmp_path / "certs", "outcomes"),
        timeout_s=240,
    )
    for r in runs:
        assert r.returncode == 0, r.stderr[-3000:]
        assert "INSECURE" not in r.stderr
    summaries = [r.summary() for r in runs]
    assert {s["sizes"]["final"] for s in summaries} == {150}
    assert len({s["digest"] for s in summaries}) == 1
    ordered = []
    for s in summaries:
        lines = (tmp_path / "data" / f"{s['party']}_ids.csv").read_text().splitlines()[1:]
        rows = pq.read_table(Path(s["workdir"]) / "aligned.parquet")["row"].to_pylist()
        ordered.append([lines[r] for r in rows])
    assert ordered[0] == ordered[1] == ordered[2] == sorted(ordered[0])


def test_a_party_killed_mid_run_leaves_no_output_anywhere_and_a_rerun_works(tmp_path: Path) -> None:
    common = cohort("PAT", 3_000, 1)
    s = Study(tmp_path)
    tap = TcpTap(s.port)
    tap.threshold = 60_000  # bytes: the bucket exchange is under way (8 buckets of ~35 kB)
    s.party("label", "label", common + cohort("L", 5_000, 2), features=["imaging"])
    s.party("imaging", "feature", common + cohort("I", 5_000, 3), peer_port=tap.port)
    cli = [
        sys.executable,
        "-c",
        "from vfl.cli import main; main()",
        "align",
        "--insecure",
        "--config",
    ]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([*cli, str(s.configs["label"])], stderr=subprocess.PIPE))
        wait_listening(f"127.0.0.1:{s.port}", 30)
        procs.append(subprocess.Popen([*cli, str(s.configs["imaging"])], stderr=subprocess.PIPE))
        assert tap.reached.wait(120), "the exchange never started"
        procs[0].kill()  # the label party dies mid-run
        _, err = procs[1].communicate(timeout=120)
        assert procs[1].returncode == EXIT_PEER, err.decode()[-2000:]
        assert b"Traceback" not in err
    finally:
        tap.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    for name in ("label", "imaging"):
        assert not (s.workdir(name) / "aligned.parquet").exists()
        assert not (s.workdir(name) / "alignment.json").exists()
    s.party("imaging", "feature", s.ids["imaging"])  # straight to the label party this time
    assert_ok(s.run())
    assert s.aligned_ids("label") == s.aligned_ids("imaging") == sorted(common)
