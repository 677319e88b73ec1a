#!/usr/bin/env python
"""Benchmark: the interactive layer's Paillier work, element-wise phe (FATE-style) vs the engine.

Shapes: B x d embeddings X, d x h weights W, B x h gradients D (defaults 256, 32, 32).
Steps, as the protocol runs them:
  forward   enc [[X]] (packed along the batch) -> [[X]]·W + R -> decrypt
  backward  enc [[X]] (packed along d)         -> [[X]]ᵀ·D + R -> decrypt
The baseline does the same with phe EncryptedNumbers in numpy object arrays (one [[X]]
serves both directions, as in FATE); it is far too slow to run whole, so each step runs on a
slice and is scaled linearly to the full size (printed as "scaled from"). The engine runs
the full size. Ends with one JSON line holding every figure; `ratio` is the 2048-bit one.

Usage: .venv/bin/python scripts/bench/he.py [--batch 256 --dim 32 --hidden 32]
       [--workers N] [--bits 2048 3072] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import gmpy2
import numpy as np

# This directory holds psi.py, which would shadow the `psi` package: import from the root.
ROOT = Path(__file__).resolve().parents[2]
sys.path[:] = [str(ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != ROOT / "scripts/bench"
]

from vfl.crypto import (  # noqa: E402
    PaillierEngine,
    ProductBudget,
    decode,
    encryptor_side_correction,
    generate_keypair,
    scalar_side_correction,
)
from vfl.crypto._kernels import KeyMaterial, Obfuscator  # noqa: E402


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def baseline(
    pk: Any, sk: Any, x: np.ndarray, w: np.ndarray, d_: np.ndarray, sl: dict[str, int]
) -> dict[str, Any]:
    """Element-wise phe on slices, scaled to the full shapes."""
    b, d = x.shape
    h = w.shape[1]
    ppk, psk = pk.phe, sk.phe
    n_enc = sl["enc"]
    flat = x.ravel()[:n_enc]
    enc, t_enc = timed(lambda: [ppk.encrypt(float(v)) for v in flat])
    per_enc = t_enc / n_enc
    rows = sl["fwd_rows"]
    ex = np.array([enc[(i * d + j) % n_enc] for i in range(rows) for j in range(d)], dtype=object)
    ex = ex.reshape(rows, d)
    mask = np.random.default_rng(0).uniform(-1e3, 1e3, (rows, h))
    fwd, t_fwd = timed(lambda: ex.dot(w) + mask)
    dec_vals = [fwd.ravel()[i % fwd.size] for i in range(sl["dec"])]
    _, t_dec = timed(lambda: [psk.decrypt(c) for c in dec_vals])
    per_dec = t_dec / sl["dec"]
    cols, hk = sl["bwd_cols"], sl["bwd_h"]
    ext = np.array([enc[(i * d + j) % n_enc] for j in range(cols) for i in range(b)], dtype=object)
    ext = ext.reshape(cols, b)
    _, t_bwd = timed(lambda: ext.dot(d_[:, :hk]) + np.zeros((cols, hk)))
    steps = {
        "encrypt_X": per_enc * b * d,
        "forward_product": t_fwd * b / rows,
        "forward_decrypt": per_dec * b * h,
        "backward_product": t_bwd * (d * h) / (cols * hk),
        "backward_decrypt": per_dec * d * h,
    }
    return {
        "steps_s": steps,
        "total_s": sum(steps.values()),
        "per_value_encrypt_ms": per_enc * 1e3,
        "per_value_decrypt_ms": per_dec * 1e3,
        "scaled_from": {
            "encryptions": n_enc,
            "decryptions": sl["dec"],
            "forward_rows": f"{rows} of {b}",
            "backward_outputs": f"{cols * hk} of {d * h}",
        },
    }


def engine_run(
    pk: Any, sk: Any, x: np.ndarray, w: np.ndarray, d_: np.ndarray, workers: int | None
) -> dict[str, Any]:
    b, d = x.shape
    h = w.shape[1]
    bound = 4.0
    fwd_budget = ProductBudget(x_bound=bound, a_bound=bound, n_terms=d)
    bwd_budget = ProductBudget(x_bound=bound, a_bound=bound, n_terms=b)
    with PaillierEngine(pk, sk, workers=workers) as eng:
        t0 = time.perf_counter()
        eng.rerandomize(eng.encrypt(np.zeros((8 * eng.workers, 1)), 1, fwd_budget))
        setup = time.perf_counter() - t0
        eng.stats = type(eng.stats)()
        steps: dict[str, float] = {}
        px, steps["forward_encrypt"] = timed(eng.encrypt, x, 0, fwd_budget)
        mask_f = eng.random_mask((b, h), fwd_budget)
        y, steps["forward_product"] = timed(lambda: eng.add_ints(eng.matmul(px, w), mask_f))
        raw_f, steps["forward_decrypt"] = timed(eng.decrypt_ints, y)
        pt, steps["backward_encrypt"] = timed(eng.encrypt, x, 1, bwd_budget)
        mask_b = eng.random_mask((d, h), bwd_budget)
        z, steps["backward_product"] = timed(lambda: eng.add_ints(eng.tmatmul(pt, d_), mask_b))
        raw_b, steps["backward_decrypt"] = timed(eng.decrypt_ints, z)
        err_f = np.abs(_finish(raw_f - mask_f, x, w, fwd_budget, "matmul") - x @ w).max()
        err_b = np.abs(_finish(raw_b - mask_b, x, d_, bwd_budget, "tmatmul") - x.T @ d_).max()
        total = sum(steps.values())
        return {
            "workers": eng.workers,
            "setup_s": setup,
            "steps_s": steps,
            "total_s": total,
            "ciphertexts": dict(eng.stats.ciphertexts),
            "slots_per_ciphertext": {
                "forward": fwd_budget.slots_per_ciphertext(pk),
                "backward": bwd_budget.slots_per_ciphertext(pk),
            },
            "per_value_encrypt_ms": (steps["forward_encrypt"] + steps["backward_encrypt"])
            / (2 * b * d)
            * 1e3,
            "per_value_decrypt_ms": (steps["forward_decrypt"] + steps["backward_decrypt"])
            / (b * h + d * h)
            * 1e3,
            "modexp_cpu_s": eng.stats.modexp_seconds,
            "modexp_share": eng.stats.modexp_seconds / (total * eng.workers),
            "max_abs_error": {"forward": float(err_f), "backward": float(err_b)},
        }


def _finish(raw: Any, x: np.ndarray, a: np.ndarray, budget: ProductBudget, op: Any) -> np.ndarray:
    exact = raw - encryptor_side_correction(x, budget, op) - scalar_side_correction(a, budget, op)
    return decode(exact, budget)


def obfuscator_costs(pk: Any, sk: Any, reps: int) -> dict[str, float]:
    """ms per fresh encryption of zero: phe-style r^n, DJN powmod, DJN fixed-base tables,
    and the subgroup key's tables (published base: the other party's and the key holder's)."""
    n, n2 = gmpy2.mpz(pk.n), gmpy2.mpz(pk.nsquare)
    obf = Obfuscator(KeyMaterial(n=pk.n))
    crt = Obfuscator(KeyMaterial(n=pk.n, p=sk.p, q=sk.q))
    wp, wq = sk.orders
    sub_public = Obfuscator(KeyMaterial(n=pk.n, hs=pk.hs, randomizer_bits=pk.randomizer_bits))
    sub_holder = Obfuscator(
        KeyMaterial(
            n=pk.n, p=sk.p, q=sk.q, hs=pk.hs, randomizer_bits=pk.randomizer_bits, wp=wp, wq=wq
        )
    )
    hs = obf.tables[0][0][1]
    _, full = timed(lambda: [gmpy2.powmod(secrets.randbelow(pk.n), n, n2) for _ in range(reps)])
    _, short = timed(
        lambda: [gmpy2.powmod(hs, secrets.randbits(obf.exp_bits), n2) for _ in range(reps)]
    )
    _, table = timed(lambda: [obf.zero() for _ in range(reps)])
    _, table_crt = timed(lambda: [crt.zero() for _ in range(reps)])
    _, sub_table = timed(lambda: [sub_public.zero() for _ in range(reps)])
    _, sub_table_crt = timed(lambda: [sub_holder.zero() for _ in range(reps)])
    return {
        "phe_r^n_ms": full / reps * 1e3,
        "djn_powmod_ms": short / reps * 1e3,
        "djn_fixed_base_table_ms": table / reps * 1e3,
        "djn_fixed_base_table_crt_ms": table_crt / reps * 1e3,
        "subgroup_table_ms": sub_table / reps * 1e3,
        "subgroup_table_crt_ms": sub_table_crt / reps * 1e3,
    }


def run_bits(bits: int, args: argparse.Namespace) -> dict[str, Any]:
    (pk, sk), t_key = timed(generate_keypair, bits)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (args.batch, args.dim))
    w = rng.uniform(-1, 1, (args.dim, args.hidden))
    d_ = rng.uniform(-1, 1, (args.batch, args.hidden))
    quick = args.quick or bits > 2048
    sl = {
        "enc": 24 if quick else 64,
        "dec": 24 if quick else 64,
        "fwd_rows": 1 if quick else 2,
        "bwd_cols": 1,
        "bwd_h": 2 if quick else 4,
    }
    eng = engine_run(pk, sk, x, w, d_, args.workers)
    base = baseline(pk, sk, x, w, d_, sl)
    return {
        "bits": bits,
        "keygen_s": t_key,
        "engine": eng,
        "baseline": base,
        "ratio": base["total_s"] / eng["total_s"],
        "obfuscator": obfuscator_costs(pk, sk, 10 if quick else 20),
    }


def report(res: dict[str, Any]) -> None:
    e, b = res["engine"], res["baseline"]
    print(f"\n== {res['bits']}-bit key (keygen {res['keygen_s']:.2f} s) ==")
    print(f"{'step':<22}{'phe element-wise':>18}{'engine':>12}{'ratio':>9}")
    pairs = [
        (
            "encrypt X",
            b["steps_s"]["encrypt_X"],
            e["steps_s"]["forward_encrypt"] + e["steps_s"]["backward_encrypt"],
        ),
        ("forward [[X]]·W+R", b["steps_s"]["forward_product"], e["steps_s"]["forward_product"]),
        ("forward decrypt", b["steps_s"]["forward_decrypt"], e["steps_s"]["forward_decrypt"]),
        ("backward [[X]]ᵀ·D+R", b["steps_s"]["backward_product"], e["steps_s"]["backward_product"]),
        ("backward decrypt", b["steps_s"]["backward_decrypt"], e["steps_s"]["backward_decrypt"]),
        ("total", b["total_s"], e["total_s"]),
    ]
    for name, tb, te in pairs:
        print(f"{name:<22}{tb:>16.2f} s{te:>10.3f} s{tb / te:>8.1f}x")
    print(f"baseline scaled from: {b['scaled_from']}")
    print(
        f"per-value encrypt: phe {b['per_value_encrypt_ms']:.3f} ms, "
        f"engine {e['per_value_encrypt_ms']:.4f} ms"
    )
    print(
        f"per-value decrypt: phe {b['per_value_decrypt_ms']:.3f} ms, "
        f"engine {e['per_value_decrypt_ms']:.4f} ms"
    )
    print(
        f"engine: {e['workers']} workers, setup {e['setup_s']:.2f} s, "
        f"slots {e['slots_per_ciphertext']}, "
        f"ciphertexts {e['ciphertexts']}"
    )
    print(
        f"engine time in modular exponentiation: {100 * e['modexp_share']:.1f}% "
        f"({e['modexp_cpu_s']:.2f} CPU s over {e['workers']} workers)"
    )
    print(f"max |error| vs numpy: {e['max_abs_error']}")
    print(f"fresh encryption of zero: {res['obfuscator']}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--bits", type=int, nargs="+", default=[2048, 3072])
    ap.add_argument("--quick", action="store_true", help="smaller baseline slices")
    args = ap.parse_args()
    print(
        f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load avg {os.getloadavg()[0]:.2f}; B={args.batch} d={args.dim} h={args.hidden}"
    )
    results = {}
    for bits in args.bits:
        res = run_bits(bits, args)
        report(res)
        results[str(bits)] = res
    first = results[str(args.bits[0])]
    summary = {
        "ratio": first["ratio"],
        "ratio_by_bits": {k: v["ratio"] for k, v in results.items()},
        "per_value_enc_plus_dec_ms": first["engine"]["per_value_encrypt_ms"]
        + first["engine"]["per_value_decrypt_ms"],
        "load_avg_end": os.getloadavg()[0],
        "shape": {"B": args.batch, "d": args.dim, "h": args.hidden},
        "results": results,
    }
    print(
        f"\nratio ({args.bits[0]}-bit): {summary['ratio']:.1f}x; "
        f"per-value enc+dec {summary['per_value_enc_plus_dec_ms']:.4f} ms"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
