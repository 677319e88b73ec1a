#!/usr/bin/env python
"""PSI alignment benchmark: one in-process openmined-psi exchange vs `vfl align` over gRPC.

2 x N IDs with 50 % overlap. (a) the library's own client/server exchange in one process, one
thread (setup, request, response, intersection); (b) `vfl align` between a label and a feature
party, each its own process, over mutual TLS on loopback, from process start to both exits.
Prints items/s for each (2N / seconds), ratio = b / a, peak RSS per party; the last line is
JSON with every figure.

    .venv/bin/python scripts/bench/psi.py --n 200000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def in_process(label_ids: list[bytes], feature_ids: list[bytes]) -> tuple[float, int]:
    import private_set_intersection.python as psi

    t0 = time.perf_counter()
    c0 = time.process_time()
    client = psi.client.CreateWithNewKey(True)
    server = psi.server.CreateWithNewKey(True)
    setup = server.CreateSetupMessage(0.0, len(label_ids), feature_ids, psi.DataStructure.RAW)
    request = client.CreateRequest(label_ids)
    response = server.ProcessRequest(request)
    found = client.GetIntersection(setup, response)
    print(f"    in-process CPU {time.process_time() - c0:.1f} s")
    return time.perf_counter() - t0, len(found)


def _encrypt_chunk(args: tuple[bytes, list[bytes]]) -> int:
    from psi.ecdh import Ecdh

    key, items = args
    return len(Ecdh(key).hash_encrypt(items))


def threads_vs_processes(n: int = 20_000) -> dict[str, float]:
    """Hash-and-encrypt throughput: 1 thread, 2 threads (own objects), 2 processes."""
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from psi.ecdh import new_key

    key, items = new_key(), [f"ID{i:09d}".encode() for i in range(n)]
    halves = [(key, items[: n // 2]), (key, items[n // 2 :])]
    out = {}
    t0 = time.perf_counter()
    _encrypt_chunk((key, items))
    out["one_thread"] = n / (time.perf_counter() - t0)
    with ThreadPoolExecutor(2) as pool:
        t0 = time.perf_counter()
        list(pool.map(_encrypt_chunk, halves))
        out["two_threads"] = n / (time.perf_counter() - t0)
    with ProcessPoolExecutor(2) as ppool:
        list(ppool.map(_encrypt_chunk, [(key, items[:10])] * 2))  # start the workers first
        t0 = time.perf_counter()
        list(ppool.map(_encrypt_chunk, halves))
        out["two_processes"] = n / (time.perf_counter() - t0)
    return {k: round(v) for k, v in out.items()}


def read_ids(path: Path) -> list[bytes]:
    return [line.encode() for line in path.read_text().splitlines()[1:]]


def two_processes(root: Path, n: int, workers: int) -> tuple[float, list[dict[str, object]]]:
    from vfl.party.launch import free_port, prepare_alignment, probe_credentials, run_parties

    port = free_port()
    label, features = prepare_alignment(root, n, n // 2, port, align={"workers": workers})
    t0 = time.perf_counter()
    runs = run_parties(
        label,
        features,
        label_address=f"127.0.0.1:{port}",
        logs=root / "logs",
        credentials=probe_credentials(root / "certs", "outcomes"),
        timeout_s=7200,
    )
    seconds = time.perf_counter() - t0
    for r in runs:
        if r.returncode != 0:
            raise SystemExit(f"{r.config.stem} failed:\n{r.stderr[-2000:]}")
    return seconds, [r.summary() for r in runs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="IDs per party (default 200000)")
    ap.add_argument("--workers", type=int, default=4, help="bucket threads per feature party")
    ap.add_argument("--skip-inprocess", action="store_true", help="only run (b) (e.g. for 1M)")
    ap.add_argument("--parallel", action="store_true", help="also time threads vs processes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vfl-bench-psi-") as tmp:
        root = Path(tmp)
        load_before = os.getloadavg()  # the machine is shared: record how busy it was
        b_s, summaries = two_processes(root, args.n, args.workers)
        b_rate = 2 * args.n / b_s
        print(f"(b) vfl align, 2 processes over gRPC+mTLS: {b_s:.1f} s, {b_rate:,.0f} items/s")
        for s in summaries:
            print(
                f"    {s['party']} ({s['role']}): shared {s['sizes']['final']}, "  # type: ignore[index]
                f"peak RSS {s['peak_rss_mib']} MiB, psi {s['timings_s']['psi']} s, "
                f"CPU {s['timings_s']['cpu']} s"
            )  # type: ignore[index]
        result: dict[str, object] = {
            "n": args.n,
            "b_seconds": round(b_s, 2),
            "b_items_per_s": round(b_rate),
            "peak_rss_mib": {str(s["party"]): s["peak_rss_mib"] for s in summaries},
            "workers": args.workers,
            "loadavg_at_start": [round(x, 2) for x in load_before],
            "cpus": os.cpu_count(),
            "machine": platform.platform(),
        }
        if not args.skip_inprocess:
            data = root / "data"
            a_s, found = in_process(
                read_ids(data / "outcomes_ids.csv"), read_ids(data / "imaging_ids.csv")
            )
            a_rate = 2 * args.n / a_s
            print(
                f"(a) in-process openmined-psi exchange, one thread: {a_s:.1f} s, "
                f"{a_rate:,.0f} items/s (found {found})"
            )
            ratio = b_rate / a_rate
            print(f"ratio (b / a): {ratio:.2f}")
            result.update(
                a_seconds=round(a_s, 2), a_items_per_s=round(a_rate), ratio=round(ratio, 3)
            )
        if args.parallel:
            par = threads_vs_processes()
            print(f"ECDH hash+encrypt items/s: {par}")
            result["ecdh_parallel_items_per_s"] = par
        print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
