#!/usr/bin/env python
"""Benchmark: one training batch of the interactive layer, both parties in one process.

Runs the Paillier-protected layer (`PaillierFeatureLayer` + `PaillierLabelLayer`, each party
with its own engines and worker pools, as in a real run on one machine) and the plaintext
layer (`PlainFeatureLayer` + `PlainLabelLayer`, the baseline) on the same embedding and
gradient, and prints per batch: wall seconds, CPU seconds of this process and its Paillier
workers, how busy that kept the cores, and the Paillier operations each party ran. No
towers, no gRPC: this is the cryptographic floor under one batch of `scripts/bench/train.py`.

Usage: .venv/bin/python scripts/bench/layer.py [--batch 256] [--width 32] [--key-bits 2048]
       [--key-scheme subgroup|djn] [--repeats 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# This directory holds psi.py, which would shadow the `psi` package: import from the root.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

from _stage2 import machine  # noqa: E402

from vfl.crypto import PaillierEngine, generate_keypair  # noqa: E402
from vfl.protocol import (  # noqa: E402
    LayerSpec,
    PaillierFeatureLayer,
    PaillierLabelLayer,
    PlainFeatureLayer,
    PlainLabelLayer,
)


def _cpu_seconds() -> float:
    """User + system CPU of this process and its live children (the worker pools)."""
    me, tick, total = os.getpid(), os.sysconf("SC_CLK_TCK"), 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == me or int(fields[1]) == me:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _batch(h, g, alpha, delta, protected: bool) -> None:
    weights = g.weights() if protected else None
    g.on_forward(h.forward(0, alpha, weights, train=True))
    finish, _ = h.finish_backward(g.backward(delta))
    g.on_backward_finish(finish)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--width", type=int, default=32, help="d = h")
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--key-scheme", default="subgroup", choices=("subgroup", "djn"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="per engine")
    args = parser.parse_args()
    b, d = args.batch, args.width
    rng = np.random.default_rng(0)
    spec = LayerSpec(in_dim=d, out_dim=d, batch_size=b)
    w_share, e_share = rng.uniform(-0.3, 0.3, (2, d, d))
    alpha, delta = np.tanh(rng.normal(size=(b, d))), rng.uniform(-0.01, 0.01, (b, d))
    info = machine()
    pk_h, sk_h = generate_keypair(args.key_bits, args.key_scheme)
    pk_g, sk_g = generate_keypair(args.key_bits, args.key_scheme)
    n = args.workers
    with (
        PaillierEngine(pk_h, sk_h, workers=n) as h_own,
        PaillierEngine(pk_g, workers=n) as h_on_g,
        PaillierEngine(pk_g, sk_g, workers=n) as g_own,
        PaillierEngine(pk_h, workers=n) as g_on_h,
    ):
        feature = PaillierFeatureLayer(spec, h_own, h_on_g, e_share)
        label = PaillierLabelLayer(spec, g_own, g_on_h, w_share)
        _batch(feature, label, alpha, delta, True)  # pools and tables start here
        engines = {"H own": h_own, "H on G's key": h_on_g, "G own": g_own, "G on H's key": g_on_h}
        before = {k: dict(e.stats.ciphertexts) for k, e in engines.items()}
        walls, cpus = [], []
        for _ in range(args.repeats):
            c0, t0 = _cpu_seconds(), time.perf_counter()
            _batch(feature, label, alpha, delta, True)
            walls.append(time.perf_counter() - t0)
            cpus.append(_cpu_seconds() - c0)
        ops = {
            k: {
                op: (c - before[k].get(op, 0)) // args.repeats
                for op, c in e.stats.ciphertexts.items()
            }
            for k, e in engines.items()
        }
    plain_h, plain_g = PlainFeatureLayer(spec, e_share), PlainLabelLayer(spec, w_share + e_share)
    t0 = time.perf_counter()
    for _ in range(100):
        _batch(plain_h, plain_g, alpha, delta, False)
    plain = (time.perf_counter() - t0) / 100
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    cores = os.cpu_count() or 1
    print(
        f"one training batch, B = {b}, d = h = {d}, {args.key_bits}-bit {args.key_scheme} keys, "
        f"{n} workers/engine"
    )
    print(f"  protected: {wall:.3f} s wall, {cpu:.2f} CPU-s, cores busy {cpu / wall / cores:.0%}")
    print(f"  plaintext layer: {plain * 1e3:.3f} ms   ratio {wall / plain:.0f}x")
    for name, counts in ops.items():
        print(f"  {name:14s} {counts}")
    print(f"machine: {info['cpu']}, {info['cores']} cores; load avg {info['load_avg']} at start")
    record = {
        "benchmark": "layer",
        "machine": info,
        "batch": b,
        "width": d,
        "key_bits": args.key_bits,
        "key_scheme": args.key_scheme,
        "protected_wall_s": wall,
        "protected_cpu_s": cpu,
        "plaintext_s": plain,
        "ratio": wall / plain,
        "ops_per_batch": ops,
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
