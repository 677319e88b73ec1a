"""Stage 2 end to end in one process: label coordinator + feature runners on threads.

Real Paillier keys (1024-bit, tests only) and real torch towers; the coordinator is called
directly (the gRPC transport has its own tests and the CLI tests run real processes).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vfl.crypto import PrivateKey
from vfl.party import FeatureRunner, LabelCoordinator, LabelData, TrainConfig


def _cohort(n=96, seed=0):
    rng = np.random.default_rng(seed)
    xa, xb = rng.normal(size=(n, 6)), rng.normal(size=(n, 4))
    logit = xa[:, 0] * 1.5 - xb[:, 1] + xa[:, 2] * xb[:, 3]
    y = (logit + rng.normal(0, 0.3, n) > 0).astype(np.float32)
    return torch.tensor(xa, dtype=torch.float32), torch.tensor(xb, dtype=torch.float32), y


def _tower(in_dim, seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(in_dim, 8), nn.Tanh(), nn.Linear(8, 4), nn.Tanh())


def _run(
    tmp: Path,
    protection: str,
    epochs=2,
    parties=("imaging", "genomics"),
    resume=False,
    key_scheme="subgroup",
):
    xa, xb, y = _cohort()
    inputs = {"imaging": xa, "genomics": xb, "clinical": xa[:, 3:] * xb[:, :3]}
    cfg = TrainConfig(
        protection=protection,
        epochs=epochs,
        batch_size=32,
        key_bits=1024,
        key_scheme=key_scheme,
        workers=1,
        interactive_width=4,
        hidden=(8,),
        lr=0.01,
        seed=7,
    )
    label = LabelCoordinator(
        run_id="r1",
        cfg=cfg,
        parties=parties,
        data=LabelData(labels=torch.tensor(y)),
        n_rows=len(y),
        alignment_digest="d",
        workdir=tmp / "label",
        resume=resume,
        timeout_s=60,
    )
    runners = [
        FeatureRunner(
            party=name,
            service=label,
            cfg=cfg,
            tower=_tower(inputs[name].shape[1], i),
            inputs=inputs[name],
            n_rows=len(y),
            alignment_digest="d",
            workdir=tmp / name,
            run_id="r1",
        )
        for i, name in enumerate(parties)
    ]
    errors = []

    def go(r):
        try:
            r.run()
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    result = label.run()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return result, label, runners


@pytest.mark.parametrize("key_scheme", ["subgroup", "djn"])
def test_protected_training_tracks_plaintext_split_learning(tmp_path, key_scheme):
    protected, _, runners = _run(tmp_path / "p", "paillier", key_scheme=key_scheme)
    plain, _, _ = _run(tmp_path / "q", "plaintext")
    for party in ("label", *(r.party for r in runners)):
        key = PrivateKey.load(tmp_path / "p" / party / "keys" / "paillier.key")
        assert key.public_key.scheme == key_scheme
    p_loss = [h["train_loss"] for h in protected.history]
    q_loss = [h["train_loss"] for h in plain.history]
    assert len(p_loss) == 2
    np.testing.assert_allclose(p_loss, q_loss, rtol=1e-3)
    np.testing.assert_allclose(
        [h["val_loss"] for h in protected.history],
        [h["val_loss"] for h in plain.history],
        rtol=1e-3,
    )


def test_three_parties_train_and_checkpoint(tmp_path):
    parties = ("imaging", "genomics", "clinical")
    result, label, runners = _run(tmp_path, "paillier", epochs=1, parties=parties)
    assert result.epochs_run == 1
    assert label.store.epochs() == (1,)
    assert all(r.store.epochs() == (1,) for r in runners)


def _one_party_config(**changes):
    return TrainConfig(
        epochs=1, batch_size=32, key_bits=1024, workers=1, interactive_width=4, **changes
    )


def _one_party_label(tmp_path, cfg, y, timeout_s):
    """A label coordinator for one feature party, "imaging"."""
    return LabelCoordinator(
        run_id="r1",
        cfg=cfg,
        parties=("imaging",),
        data=LabelData(labels=torch.tensor(y)),
        n_rows=len(y),
        alignment_digest="d",
        workdir=tmp_path / "label",
        timeout_s=timeout_s,
    )


def test_a_feature_party_error_stops_the_label_party_at_once_naming_it(tmp_path):
    import time

    from vfl.errors import EncodingBoundsError, TrainingError

    xa, _, y = _cohort()
    cfg = _one_party_config()
    label = _one_party_label(tmp_path, cfg, y, timeout_s=600)
    torch.manual_seed(0)
    wild = nn.Sequential(nn.Linear(6, 4))  # no bounded activation: embeddings beyond ±2
    with torch.no_grad():
        wild[0].weight.mul_(100.0)
    runner = FeatureRunner(
        party="imaging",
        service=label,
        cfg=cfg,
        tower=wild,
        inputs=xa,
        n_rows=len(y),
        alignment_digest="d",
        workdir=tmp_path / "imaging",
        run_id="r1",
    )
    failures = []

    def go():
        try:
            runner.run()
        except EncodingBoundsError as exc:
            failures.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    t0 = time.monotonic()
    with pytest.raises(TrainingError, match="'imaging' stopped with EncodingBoundsError"):
        label.run()
    assert time.monotonic() - t0 < 60  # not the 600 s wait for a silent party
    thread.join(timeout=60)
    assert failures and "alpha_bound" in str(failures[0])
    label.close()


@pytest.mark.parametrize("strict", ["label", "feature"])
def test_a_party_refuses_a_peer_key_scheme_it_does_not_accept(tmp_path, strict):
    """`peer_key_schemes = ["djn"]` at either side refuses the other's subgroup key at hello,
    with an error naming the peer, its scheme and the setting."""
    from vfl.errors import PeerRefusedError

    xa, _, y = _cohort()
    base, strict_cfg = _one_party_config(), _one_party_config(peer_key_schemes=("djn",))
    label = _one_party_label(tmp_path, strict_cfg if strict == "label" else base, y, timeout_s=30)
    runner = FeatureRunner(
        party="imaging",
        service=label,
        cfg=strict_cfg if strict == "feature" else base,
        tower=_tower(xa.shape[1], 0),
        inputs=xa,
        n_rows=len(y),
        alignment_digest="d",
        workdir=tmp_path / "imaging",
        run_id="r1",
    )
    peer = "party 'imaging'" if strict == "label" else "the label party"
    try:
        with pytest.raises(PeerRefusedError, match=f"{peer}.*subgroup scheme.*peer_key_schemes"):
            runner.run()
    finally:
        label.close()
