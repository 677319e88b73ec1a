#!/usr/bin/env python
"""Where a training run's time went, from one party's transcript time stamps.

Reads a transcript (`workdir/transcripts/train.jsonl`, e.g. the label party's after
`scripts/bench/train.py`), keeps the last session (from the last hello on) and prints, for
every pair of consecutive messages, the total, median and 90th percentile of the time
between them: e.g. ("r:backward", "s:backward") is the label party's work between receiving
a backward call and answering it. r = received, s = sent; step names without "train.".

Usage: .venv/bin/python scripts/bench/phases.py TRANSCRIPT [--top 12]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("transcript", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    lines = [json.loads(line) for line in args.transcript.read_text().splitlines() if line]
    msgs = [r for r in lines if r.get("kind") == "msg"]
    hellos = [i for i, r in enumerate(msgs) if r["step"] == "train.hello"]
    msgs = msgs[hellos[-1] :] if hellos else msgs
    if len(msgs) < 2:
        raise SystemExit("fewer than two messages in the last session")

    def when(r: dict[str, str]) -> float:
        return dt.datetime.fromisoformat(r["time"]).timestamp()

    def name(r: dict[str, str]) -> str:
        return f"{r['direction'][0]}:{r['step'].removeprefix('train.')}"

    gaps: dict[tuple[str, str], list[float]] = {}
    for a, b in zip(msgs, msgs[1:], strict=False):
        gaps.setdefault((name(a), name(b)), []).append(when(b) - when(a))
    print(f"{len(msgs)} messages over {when(msgs[-1]) - when(msgs[0]):.1f} s")
    for key, v in sorted(gaps.items(), key=lambda kv: -sum(kv[1]))[: args.top]:
        p90 = sorted(v)[int(0.9 * (len(v) - 1))]
        med = statistics.median(v)
        print(f"{sum(v):8.1f} s  n={len(v):5d}  median {med:.3f}  p90 {p90:.3f}  {key}")


if __name__ == "__main__":
    main()
