"""One party's whole alignment: read IDs, run its role, write the outputs atomically.

Outputs in the workdir: `aligned.parquet` (column `row`: this party's file row for each shared
position 0..n-1; not written under `label-only` at a feature party nor under `size-only`) and
`alignment.json` (sizes, policy, digest, protocol, timings, dropped counts, input digest),
written last. Earlier outputs are removed first, so a failed run leaves nothing behind.

Resuming (`resume=True`, `vfl align --resume`): alignment keeps no intermediate state worth
resuming (it takes seconds and every party must take part in a rerun anyway), so a resumed run
is a clean rerun over whatever a killed run left, accepted whether or not one was killed. The
shared order is the sort order of the normalized IDs, independent of the run's ECDH keys, salt
and bucket key, so the rerun writes the same `aligned.parquet`, byte for byte, given the same
inputs at every party. The summary's `resume` field says what the earlier run had left and,
after a completed one with the same inputs, whether `aligned.parquet` came out unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from psi import outputs
from psi.config import PsiConfig
from psi.envelope import PROTOCOL_VERSION
from psi.feature import run_feature
from psi.ids import read_ids
from psi.label import run_label
from psi.observer import WireObserver

__all__ = ["PROTOCOL", "align", "inputs_sha256"]

logger = logging.getLogger(__name__)

PROTOCOL = "ecdh-psi/p256/openmined-psi-2; keyed-blake2b buckets; hmac-sha256 order digest"
ProgressFn = Callable[[str, int, int], None]


def _summary(cfg: PsiConfig, **fields: Any) -> dict[str, Any]:
    a = cfg.align
    return {
        "party": cfg.party.name,
        "role": cfg.party.role,
        "run_id": cfg.party.run_id,
        "protocol": PROTOCOL,
        "protocol_version": PROTOCOL_VERSION,
        "policy": {
            "visibility": a.visibility,
            "min_intersection": a.min_intersection,
            "case_fold": a.case_fold,
            "on_invalid": a.on_invalid,
        },
        **fields,
    }


def inputs_sha256(cfg: PsiConfig) -> str:
    """SHA-256 over this party's ID file bytes and every setting that shapes its outputs."""
    a, n = cfg.align, cfg.network
    settings = {
        "party": [cfg.party.name, cfg.party.role, cfg.party.run_id],
        "align": [a.id_column, a.case_fold, a.on_invalid, a.visibility, a.min_intersection],
        "peers": [n.peer_name, *n.feature_parties],
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(outputs.file_sha256(a.ids_file).encode() if a.ids_file.is_file() else b"-")
    return digest.hexdigest()


def _resume_report(
    previous: outputs.PreviousRun, inputs: str, aligned: str | None
) -> dict[str, Any]:
    report: dict[str, Any] = {"previous": previous.state, "leftovers": previous.leftovers}
    if previous.state == "complete":
        report["same_inputs"] = previous.inputs_sha256 == inputs
        report["unchanged"] = report["same_inputs"] and previous.aligned_sha256 == aligned
        if report["same_inputs"] and not report["unchanged"]:
            logger.warning("same inputs here, but the shared set changed: another party's did")
    return report


def align(
    cfg: PsiConfig,
    *,
    observer: WireObserver | None = None,
    progress: ProgressFn | None = None,
    on_listening: Callable[[int], None] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run this party's side of the alignment and return the summary written to disk.

    With `resume`, the summary gains `resume`: what an earlier run left (`previous`: none,
    interrupted or complete; `leftovers`: its temporary files) and, after a completed one,
    `same_inputs` and `unchanged` (the new `aligned.parquet` is byte-identical to the old).

    Raises:
        InputDataError, PeerError, AlignmentError (and subclasses): nothing is written then.
    """
    t0 = time.perf_counter()
    workdir = cfg.party.workdir
    previous = outputs.previous_run(workdir) if resume else None
    if previous is not None:
        logger.info("resume: the earlier run is %s", previous.state)
    outputs.clean(workdir)
    inputs = inputs_sha256(cfg)
    ids = read_ids(
        cfg.align.ids_file,
        cfg.align.id_column,
        case_fold=cfg.align.case_fold,
        on_invalid=cfg.align.on_invalid,
    )
    t_read = time.perf_counter()
    sizes: dict[str, Any] = {"input_rows": ids.total_rows, "valid_ids": len(ids.ids)}
    rows = None
    digest = b""
    if cfg.party.role == "label":
        run, outcome = run_label(
            cfg, ids, observer=observer, progress=progress, on_listening=on_listening
        )
        sizes["pairwise"] = {p.name: p.pairwise for p in run.parties.values()}
        if cfg.align.visibility != "size-only":
            sizes["final"] = outcome.final_size
            rows = ids.rows[np.asarray(outcome.final, dtype=np.int64)]
            digest = run.own_digest() if cfg.align.visibility == "both" else b""
        n_buckets = sorted({p.n_buckets for p in run.parties.values()})
    else:
        res = run_feature(cfg, ids, observer=observer, progress=progress)
        n_buckets = [res.n_buckets]
        if cfg.align.visibility == "size-only":
            sizes["pairwise"] = {cfg.network.peer_name: res.pairwise_size}
        else:
            sizes["final"] = res.final_size
        if cfg.align.visibility == "both":
            rows = ids.rows[np.asarray(res.ordered, dtype=np.int64)]
            digest = res.digest
    t_psi = time.perf_counter()
    aligned_sha = None
    if rows is not None:
        aligned_sha = outputs.file_sha256(outputs.write_aligned(workdir, rows))
    extra = {"resume": _resume_report(previous, inputs, aligned_sha)} if previous else {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary = _summary(
        cfg,
        **extra,
        inputs_sha256=inputs,
        sizes=sizes,
        dropped=ids.dropped,
        digest=digest.hex() if digest else None,
        n_buckets=n_buckets,
        outputs=[outputs.ALIGNED, outputs.SUMMARY] if rows is not None else [outputs.SUMMARY],
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),
        timings_s={
            "read": round(t_read - t0, 3),
            "psi": round(t_psi - t_read, 3),
            "total": round(time.perf_counter() - t0, 3),
            "cpu": round(usage.ru_utime + usage.ru_stime, 3),
        },
    )
    outputs.write_summary(workdir, summary)
    logger.info("alignment done: %s", sizes)
    return summary
