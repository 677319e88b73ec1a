"""Constants both ends of the training wire agree on, and the error kinds that cross it.

A few domain errors have no status code of their own in `psi.net` (which cannot import
`vfl`): the server names them in the `vfl-error` trailing metadata, and the client rebuilds
the same class, so `SessionChangedError` raised by the label party's service is a
`SessionChangedError` at the feature party.
"""

from __future__ import annotations

import time

from vfl.errors import CiphertextError, KeyMismatchError, TrainingError, VflError
from vfl.protocol.session import SessionChangedError

__all__ = [
    "ERROR_KEY",
    "ERROR_KINDS",
    "SERVICE",
    "STEPS",
    "TRAIN_PROTOCOL_VERSION",
    "clock_seq",
    "error_kind",
]

#: Full name of the gRPC service the label party serves.
SERVICE = "vfl.train.Train"
#: Version of the stage-2 wire protocol; parties on different versions refuse each other.
TRAIN_PROTOCOL_VERSION = 2
#: gRPC method -> protocol step named in the envelope of its request and its reply.
STEPS = {
    "Hello": "train.hello",
    "NextStep": "train.next_step",
    "Weights": "train.weights",
    "Forward": "train.forward",
    "Backward": "train.backward",
    "BackwardFinish": "train.backward_finish",
    "EpochSaved": "train.epoch_saved",
    "Abort": "train.abort",
}
#: Trailing-metadata key naming the error kind of a failed call.
ERROR_KEY = "vfl-error"
#: Error kinds the client rebuilds; the most specific class is listed first.
ERROR_KINDS: dict[str, type[VflError]] = {
    "session-changed": SessionChangedError,
    "key-mismatch": KeyMismatchError,
    "ciphertext": CiphertextError,
    "training": TrainingError,
}


def error_kind(exc: BaseException) -> str | None:
    """The wire kind of `exc`, if it is one the client rebuilds."""
    for kind, cls in ERROR_KINDS.items():
        if isinstance(exc, cls):
            return kind
    return None


def clock_seq() -> int:
    """First sequence number of a party's run: microseconds since the epoch.

    A restarted party keeps numbering above anything its peer has seen before the restart,
    so strict per-sender ordering survives restarts without persisted counters.
    """
    return time.time_ns() // 1000
