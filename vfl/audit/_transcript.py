"""The transcript writer: a `psi.observer.WireObserver` that appends hash-chained JSON lines.

Durability: every line is written whole and flushed to the OS as soon as the message passes;
`fsync="close"` (the default) syncs to disk when the transcript is closed, `fsync="line"` after
every line (slower; for runs where a power cut must not lose the tail). The header is created
atomically, the file is created 0600, and an exclusive lock keeps a second process from
interleaving lines.

Resume: reopening an existing transcript checks the header (same run and party) and the chain,
drops a torn last line left by a crash (a line is only ever torn at the end), appends a
`resume` line that records how many bytes were dropped, and continues the chain.

Recording failures raise `AuditError`: an audit trail that silently loses messages is worse than
a stopped run.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

from psi.observer import Direction
from vfl.audit._reader import load_transcript
from vfl.audit._records import GENESIS, VERSION, PublicKeyRecord, seal
from vfl.audit._verify import chain_findings
from vfl.errors import AuditError

__all__ = ["Transcript"]

logger = logging.getLogger(__name__)

FsyncPolicy = Literal["close", "line"]


class Transcript:
    """Append-only, hash-chained record of every message one party sends or receives.

    Hand it to the transports as their `WireObserver`; it is safe to call from several
    threads. Use it as a context manager, or call `close()`.

    Args:
        path: the JSONL file; created (with its directories) if missing, resumed if present.
        run_id: the run this transcript belongs to.
        party: this party's identity (its certificate's common name).
        capture: also store each payload (base64), which `vfl audit scan` needs. Payloads are
            what crossed the wire already (ciphertexts, EC points, positions), never raw data.
        keys: Paillier public keys known at start (own and peers'); `add_key` adds later ones.
        fsync: "close" (flush every line, fsync on close) or "line" (fsync every line).
    """

    def __init__(
        self,
        path: Path,
        *,
        run_id: str,
        party: str,
        capture: bool = False,
        keys: Sequence[PublicKeyRecord] = (),
        fsync: FsyncPolicy = "close",
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.party = party
        self.capture = capture
        self._fsync = fsync
        self._lock = threading.Lock()
        self._index = 0
        self._prev = GENESIS
        self._known: set[tuple[str, int]] = set()
        if not path.exists() or path.stat().st_size == 0:
            self._create(keys)
        self._handle: BinaryIO | None = self._open_locked()
        try:
            if self._index == 0:
                self._resume()
            for key in keys:
                self.add_key(key)
        except BaseException:
            self._release()
            raise

    def on_message(
        self, *, direction: Direction, peer: str, step: str, seq: int, payload: bytes
    ) -> None:
        """Append one message (the `WireObserver` hook)."""
        fields: dict[str, Any] = {
            "kind": "msg",
            "seq": seq,
            "direction": direction,
            "peer": peer,
            "step": step,
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        if self.capture:
            fields["payload"] = base64.b64encode(payload).decode("ascii")
        self._append(fields)

    def add_key(self, key: PublicKeyRecord) -> None:
        """Record a Paillier public key (own or a peer's) unless it is recorded already."""
        if (key.fingerprint, key.n) in self._known:
            return
        self._append({"kind": "key", **key.to_json()})
        self._known.add((key.fingerprint, key.n))

    def close(self) -> None:
        """Flush, fsync and close; further messages raise `AuditError`."""
        with self._lock:
            if self._handle is None:
                return
            try:
                self._handle.flush()
                os.fsync(self._handle.fileno())
            except OSError as exc:
                raise AuditError(f"cannot sync transcript {self.path}: {exc}") from exc
            finally:
                self._release()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _append(self, fields: dict[str, Any]) -> None:
        with self._lock:
            if self._handle is None:
                raise AuditError(f"transcript {self.path.name} is closed")
            obj = {**fields, "index": self._index, "prev": self._prev, "time": _now()}
            line = seal(obj)
            try:
                self._handle.write(line)
                self._handle.flush()
                if self._fsync == "line":
                    os.fsync(self._handle.fileno())
            except OSError as exc:
                raise AuditError(f"cannot append to transcript {self.path}: {exc}") from exc
            self._index += 1
            self._prev = obj["hash"]

    def _create(self, keys: Sequence[PublicKeyRecord]) -> None:
        header: dict[str, Any] = {
            "kind": "header",
            "version": VERSION,
            "run_id": self.run_id,
            "party": self.party,
            "capture": self.capture,
            "keys": [k.to_json() for k in keys],
            "time": _now(),
            "index": 0,
            "prev": GENESIS,
        }
        line = seal(header)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _write_new(self.path, line)
        except OSError as exc:
            raise AuditError(f"cannot create transcript {self.path}: {exc}") from exc
        self._index, self._prev = 1, header["hash"]
        self._known.update((k.fingerprint, k.n) for k in keys)
        logger.info("transcript created (capture=%s)", self.capture)

    def _open_locked(self) -> BinaryIO:
        try:
            handle = self.path.open("ab")
        except OSError as exc:
            raise AuditError(f"cannot open transcript {self.path}: {exc}") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise AuditError(f"transcript {self.path} is in use by another process") from exc
        return handle

    def _resume(self) -> None:
        torn = _torn_tail(self.path)
        parsed = load_transcript(self.path)
        if parsed.run_id != self.run_id or parsed.party != self.party:
            raise AuditError(
                f"transcript {self.path} belongs to another run or party; refusing to append"
            )
        broken = [f for f in [*parsed.problems, *chain_findings(parsed)] if f.check != "chain.torn"]
        if broken:
            raise AuditError(
                f"transcript {self.path} is damaged ({broken[0]}); move it away to start anew"
            )
        if torn:
            self._truncate(torn)
        last = parsed.entries[-1]
        self._index, self._prev = last.index + 1, last.hash
        self._known.update((k.fingerprint, k.n) for k in parsed.keys)
        self._append({"kind": "resume", "truncated_bytes": torn})
        logger.info("transcript resumed at index %d (dropped %d torn bytes)", last.index, torn)

    def _truncate(self, torn: int) -> None:
        if self._handle is None:
            raise AuditError(f"transcript {self.path.name} is closed")
        try:
            size = os.fstat(self._handle.fileno()).st_size
            os.ftruncate(self._handle.fileno(), size - torn)
        except OSError as exc:
            raise AuditError(f"cannot repair torn transcript {self.path}: {exc}") from exc

    def _release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _write_new(path: Path, data: bytes) -> None:
    """Create `path` holding `data`, all or nothing, mode 0600; never replace a file."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists() and path.stat().st_size == 0:
            path.unlink()
        os.link(tmp_name, path)
    finally:
        os.unlink(tmp_name)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _torn_tail(path: Path) -> int:
    """Bytes after the last newline: what a crash mid-write left behind."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            step = min(65536, pos)
            handle.seek(pos - step)
            block = handle.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                return end - (pos - step + cut + 1)
            pos -= step
        return end
