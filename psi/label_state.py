"""The label party's side of the alignment protocol, as pure handlers over explicit state.

The label party holds ECDH key a and answers every call the feature parties initiate. Per
feature party and bucket it receives the party's sorted H(z)^b (a RAW openmined-psi setup),
answers with its own H(x)^a, receives H(x)^ab, strips a with a^-1 to obtain H(x)^b and
intersects with the setup. When every party is done it intersects across parties (on its own
row indices) and decides the outcome; under visibility "both" it then hands each party H(x)^b
of the final set, bucket by bucket, and compares the salted digests of everyone's ordered list.

Handlers raise domain errors; `psi.label` maps them to gRPC status codes. A handler failing
because a party misbehaved also fails the run, so the other parties learn it at their next call.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocols import align_pb2
from psi import buckets, ecdh
from psi.config import PsiConfig
from psi.envelope import Sequencer, check_request
from psi.errors import AlignmentError, PeerRefusedError, ProtocolViolationError
from psi.ids import IdSet
from psi.label_decide import Outcome, compare_digests, decide
from psi.order import SALT_BYTES, digest

__all__ = ["VISIBILITY_TO_WIRE", "LabelRun", "Outcome"]

logger = logging.getLogger(__name__)

#: Largest ID set a feature party may announce (bounds the bucket count it can make us build).
MAX_IDS = 1 << 32

VISIBILITY_TO_WIRE = {
    "both": align_pb2.BOTH,
    "label-only": align_pb2.LABEL_ONLY,
    "size-only": align_pb2.SIZE_ONLY,
}


@dataclass
class _Party:
    name: str
    n_ids: int
    n_buckets: int
    hello_seq: int
    seen: set[int] = field(default_factory=set)
    max_seq: int = 0
    setups: dict[int, set[bytes]] = field(default_factory=dict)
    bucket_seq: dict[int, int] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    matches: dict[int, bytes] = field(default_factory=dict)  # label index -> H(x)^b
    pairwise: int = 0
    digest: bytes | None = None
    delivered: bool = False


class LabelRun:
    """State of one alignment run at the label party; every method is thread-safe."""

    def __init__(self, cfg: PsiConfig, ids: IdSet) -> None:
        self.cfg, self.ids = cfg, ids
        self.name, self.run_id = cfg.party.name, cfg.party.run_id
        self.expected = set(cfg.network.feature_parties)
        self.bucket_key = secrets.token_bytes(buckets.KEY_BYTES)
        self.salt = secrets.token_bytes(SALT_BYTES)
        key = ecdh.new_key()
        self._a, self._a_inv = ecdh.Ecdh(key), ecdh.Ecdh(ecdh.inverse_key(key))
        self.seq = Sequencer(self.run_id, self.name)
        self.cond = threading.Condition()
        self.parties: dict[str, _Party] = {}
        self.outcome: Outcome | None = None
        self.verdict: Outcome | None = None
        self.last_activity = time.monotonic()
        self.buckets_done = 0
        self._requests: dict[tuple[int, int], tuple[list[int], bytes]] = {}
        self._partitions: dict[int, list[list[int]]] = {}
        self._req_locks: dict[tuple[int, int], threading.Lock] = {}

    # ---- envelope and party checks -------------------------------------------------------

    def _check(self, env: Any, step: str, cn: str | None) -> None:
        check_request(env, run_id=self.run_id, me=self.name, step=step, known=self.expected, cn=cn)

    def _party(self, env: Any, floor: Callable[[_Party], int | None]) -> _Party:
        """The sender's state, after checking its sequence number is fresh and above `floor`."""
        party = self.parties.get(env.sender)
        if party is None:
            raise ProtocolViolationError(f"{env.sender!r} must say hello first")
        low = floor(party)
        if low is None:
            raise ProtocolViolationError(f"step {env.step!r} before its preceding step")
        if env.seq in party.seen or env.seq <= low:
            raise ProtocolViolationError(f"out-of-order or replayed sequence number {env.seq}")
        party.seen.add(env.seq)
        party.max_seq = max(party.max_seq, env.seq)
        self.last_activity = time.monotonic()
        return party

    def _alive(self) -> None:
        if self.outcome is not None and self.outcome.code == align_pb2.ABORTED:
            raise AlignmentError(f"run aborted: {self.outcome.detail}")

    def fail(self, detail: str) -> None:
        """Abort the run (once): every party learns it at its next call."""
        with self.cond:
            if self.outcome is None or self.outcome.code == align_pb2.OK and self.verdict is None:
                logger.error("alignment aborted: %s", detail)
                self.outcome = Outcome(align_pb2.ABORTED, detail)
                self.verdict = self.outcome
                self.cond.notify_all()

    # ---- handlers --------------------------------------------------------------------------

    def hello(self, req: Any, cn: str | None) -> align_pb2.HelloReply:
        """Admit a feature party if its run, policy and identity match."""
        self._check(req.env, "align.hello", cn)
        policy = self.cfg.align
        if req.visibility != VISIBILITY_TO_WIRE[policy.visibility]:
            raise PeerRefusedError(
                f"policy mismatch: visibility differs (label party: {policy.visibility})"
            )
        if req.min_intersection != policy.min_intersection:
            raise PeerRefusedError(
                f"policy mismatch: min_intersection {req.min_intersection} differs from the label "
                f"party's {policy.min_intersection}"
            )
        if req.n_ids > MAX_IDS:
            raise ProtocolViolationError(f"announced {req.n_ids} IDs; at most {MAX_IDS} supported")
        with self.cond:
            self._alive()
            if req.env.sender in self.parties:
                raise PeerRefusedError(f"{req.env.sender!r} already joined this run")
            largest = max(len(self.ids.ids), req.n_ids)
            n = buckets.bucket_count(largest, policy.bucket_size)
            self.parties[req.env.sender] = _Party(req.env.sender, req.n_ids, n, req.env.seq)
            self.parties[req.env.sender].seen.add(req.env.seq)
            self.last_activity = time.monotonic()
            self.cond.notify_all()
        logger.info("party joined with %d IDs; %d buckets", req.n_ids, n)
        env = self.seq.envelope(req.env.sender, "align.hello")
        return align_pb2.HelloReply(
            env=env, bucket_key=self.bucket_key, digest_salt=self.salt, n_buckets=n
        )

    def _label_request(self, n_buckets: int, bucket: int) -> tuple[list[int], bytes]:
        """This party's H(x)^a for one bucket (computed once, shared by every feature party)."""
        with self.cond:
            if n_buckets not in self._partitions:
                self._partitions[n_buckets] = buckets.assign(
                    self.ids.ids, self.bucket_key, n_buckets
                )
            lock = self._req_locks.setdefault((n_buckets, bucket), threading.Lock())
        with lock:
            cached = self._requests.get((n_buckets, bucket))
            if cached is None:
                idx = self._partitions[n_buckets][bucket]
                cached = (idx, self._a.request([self.ids.ids[i] for i in idx]))
                self._requests[(n_buckets, bucket)] = cached
        return cached

    def exchange(self, req: Any, cn: str | None) -> align_pb2.RequestMessage:
        """Take a bucket's setup, return this party's request for the same bucket."""
        self._check(req.env, "align.setup", cn)
        with self.cond:
            self._alive()
            party = self._party(req.env, lambda p: p.hello_seq)
            self._check_bucket(party, req.bucket)
            if req.bucket in party.bucket_seq:
                raise ProtocolViolationError(f"bucket {req.bucket} set up twice")
            party.bucket_seq[req.bucket] = req.env.seq
        points = ecdh.parse_setup(req.server_setup)
        if len(points) > party.n_ids:
            raise ProtocolViolationError("setup holds more points than the party announced")
        with self.cond:
            party.setups[req.bucket] = set(points)
        _, request = self._label_request(party.n_buckets, req.bucket)
        env = self.seq.envelope(party.name, "align.request")
        return align_pb2.RequestMessage(env=env, bucket=req.bucket, request=request)

    @staticmethod
    def _check_bucket(party: _Party, bucket: int) -> None:
        if not 0 <= bucket < party.n_buckets:
            raise ProtocolViolationError(f"bucket {bucket} out of range 0..{party.n_buckets - 1}")

    def respond(self, req: Any, cn: str | None) -> align_pb2.Ack:
        """Take H(x)^ab for a bucket, strip a, intersect with the bucket's setup."""
        self._check(req.env, "align.response", cn)
        with self.cond:
            self._alive()
            party = self._party(req.env, lambda p: p.bucket_seq.get(req.bucket))
            if req.bucket in party.done:
                raise ProtocolViolationError(f"bucket {req.bucket} answered twice")
            setup = party.setups.pop(req.bucket, None)
            if setup is None:  # its setup was refused, or another response took it
                raise ProtocolViolationError(f"bucket {req.bucket} has no pending setup")
        idx, _ = self._label_request(party.n_buckets, req.bucket)
        points = ecdh.parse_points(req.response, "Response")
        if len(points) != len(idx):
            raise ProtocolViolationError(
                f"response for bucket {req.bucket} holds {len(points)} points, expected {len(idx)}"
            )
        stripped = self._a_inv.raise_points(points)
        self._record(party, req.bucket, idx, stripped, setup)
        return align_pb2.Ack(env=self.seq.envelope(party.name, "align.response"))

    def _record(
        self, party: _Party, bucket: int, idx: list[int], xb: list[bytes], setup: set[bytes]
    ) -> None:
        size_only = self.cfg.align.visibility == "size-only"
        with self.cond:
            if size_only:  # the response was sorted: count only, no link to our rows
                party.pairwise += sum(1 for p in xb if p in setup)
            else:
                for i, p in zip(idx, xb, strict=True):
                    if p in setup:
                        party.matches[i] = p
                party.pairwise = len(party.matches)
            party.done.add(bucket)
            self.buckets_done += 1
            if self._all_done():
                self._decide()
            self.cond.notify_all()

    def _all_done(self) -> bool:
        return set(self.parties) == self.expected and all(
            len(p.done) == p.n_buckets for p in self.parties.values()
        )

    def _decide(self) -> None:
        """Intersect across parties and decide the outcome (called with the lock held)."""
        if self.outcome is not None:
            return
        pairwise = {p.name: p.pairwise for p in self.parties.values()}
        logger.info("all parties done; pairwise intersection sizes %s", sorted(pairwise.values()))
        matched = {p.name: p.matches.keys() for p in self.parties.values()}
        a = self.cfg.align
        self.outcome = decide(a.visibility, a.min_intersection, self.ids.ids, matched, pairwise)
        if self.outcome.code != align_pb2.OK or a.visibility != "both":
            self.verdict = self.outcome

    def _wait(self, until: Any, poll_s: float) -> bool:
        """Wait (lock held) until `until()` or the poll interval ends; True if it holds."""
        return bool(self.cond.wait_for(until, timeout=poll_s))

    def result(self, req: Any, cn: str | None, poll_s: float) -> align_pb2.ResultReply:
        """Long poll for the outcome; `pending` if it is not decided within `poll_s`."""
        self._check(req.env, "align.result", cn)
        with self.cond:
            party = self._party(req.env, lambda p: p.max_seq)
            ready = self._wait(lambda: self.outcome is not None, poll_s)
            env = self.seq.envelope(party.name, "align.result")
            if not ready or self.outcome is None:
                return align_pb2.ResultReply(env=env, pending=True)
            out = self.outcome
            vis = self.cfg.align.visibility
            if out.code != align_pb2.OK or vis != "both":
                party.delivered = True
                self.cond.notify_all()
            return align_pb2.ResultReply(
                env=env,
                outcome=out.code,
                detail=out.detail,
                final_size=out.final_size if vis != "size-only" else 0,
                pairwise_size=party.pairwise if vis == "size-only" else 0,
            )

    def final(self, req: Any, cn: str | None) -> align_pb2.FinalPoints:
        """Under "both": H(x)^b of the final set that falls into one of the party's buckets."""
        self._check(req.env, "align.final", cn)
        with self.cond:
            party = self._party(req.env, lambda p: p.max_seq)
            self._alive()
            out = self.outcome
            if out is None or out.code != align_pb2.OK or self.cfg.align.visibility != "both":
                raise ProtocolViolationError("final points are only sent under visibility 'both'")
            self._check_bucket(party, req.bucket)
            members = set(out.final)
        idx, _ = self._label_request(party.n_buckets, req.bucket)
        points = sorted(party.matches[i] for i in idx if i in members)
        env = self.seq.envelope(party.name, "align.final")
        return align_pb2.FinalPoints(env=env, bucket=req.bucket, points=points)

    def own_digest(self) -> bytes:
        """Digest of this party's ordered final list (empty before the outcome)."""
        final = self.outcome.final if self.outcome is not None else []
        return digest(self.salt, [self.ids.ids[i] for i in final])

    def confirm(self, req: Any, cn: str | None, poll_s: float) -> align_pb2.Verdict:
        """Collect a party's digest; once all are in, compare them with ours (long poll)."""
        self._check(req.env, "align.confirm", cn)
        with self.cond:
            party = self._party(req.env, lambda p: p.max_seq)
            if self.outcome is None or self.cfg.align.visibility != "both":
                raise ProtocolViolationError("digest sent before the outcome or without 'both'")
            if party.digest is None:
                party.digest = bytes(req.digest)
                self._maybe_compare()
            ready = self._wait(lambda: self.verdict is not None, poll_s)
            env = self.seq.envelope(party.name, "align.verdict")
            if not ready or self.verdict is None:
                return align_pb2.Verdict(env=env, pending=True)
            party.delivered = True
            self.cond.notify_all()
            return align_pb2.Verdict(env=env, outcome=self.verdict.code, detail=self.verdict.detail)

    def _maybe_compare(self) -> None:
        digests = {p.name: p.digest for p in self.parties.values() if p.digest is not None}
        if self.verdict is not None or self.outcome is None or len(digests) < len(self.parties):
            return
        self.verdict = compare_digests(self.own_digest(), digests, self.outcome)
        if self.verdict.code == align_pb2.MISMATCH:
            logger.error("digest mismatch: %s", self.verdict.detail)
        self.cond.notify_all()

    def abort(self, req: Any, cn: str | None) -> align_pb2.Ack:
        """A feature party gave up: fail the run for everyone."""
        self._check(req.env, "align.abort", cn)
        with self.cond:
            party = self.parties.get(req.env.sender)
            if party is not None:
                party.delivered = True
        self.fail(f"party {req.env.sender!r} aborted: {req.reason[:200]}")
        return align_pb2.Ack(env=self.seq.envelope(req.env.sender, "align.abort"))
