"""Intermediate fusion through the split model: better than either modality, as good as pooling.

The outcome depends on both modalities and on their interaction. The split model is run with
the real coordinator and runners in process (plaintext protection: the Paillier path follows
it to 1e-3, see test_inprocess_training.py); the pooled baseline is the same architecture
trained centrally in plain torch on the same batches.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from vfl.fusion import FusionHead, make_task
from vfl.party import (
    FeatureRunner,
    LabelCoordinator,
    LabelData,
    Schedule,
    TrainConfig,
    initial_noise_share,
    initial_weight_share,
)

N, EPOCHS = 1200, 8
CFG = TrainConfig(
    protection="plaintext",
    epochs=EPOCHS,
    batch_size=64,
    seed=11,
    interactive_width=8,
    hidden=(16,),
    lr=0.01,
    interactive_lr=0.1,
    val_fraction=0.25,
)


def _data():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(N, 6)), rng.normal(size=(N, 6))
    logit = 1.2 * a[:, 0] + 1.2 * b[:, 0] + 2.0 * a[:, 1] * b[:, 1]
    y = (logit + rng.normal(0, 0.5, N) > 0).astype(np.float32)
    t = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    return {"imaging": t(a), "genomics": t(b)}, torch.tensor(y)


def _tower(name):
    torch.manual_seed(CFG.seed + len(name))
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh())


def _split(inputs, y, parties, tmp):
    label = LabelCoordinator(
        run_id="q",
        cfg=CFG,
        parties=parties,
        data=LabelData(labels=y),
        n_rows=N,
        alignment_digest="d",
        workdir=tmp / "label",
        timeout_s=120,
    )
    runners = [
        FeatureRunner(
            party=p,
            service=label,
            cfg=CFG,
            tower=_tower(p),
            inputs=inputs[p],
            n_rows=N,
            alignment_digest="d",
            workdir=tmp / p,
            run_id="q",
        )
        for p in parties
    ]
    threads = [threading.Thread(target=r.run) for r in runners]
    for t in threads:
        t.start()
    result = label.run()
    for t in threads:
        t.join(60)
    return result.history[-1]["val_auc"]


def _pooled(inputs, y, parties):
    """The same towers, interactive weights W = W̃ + E, head and optimizers, in one process."""
    spec = CFG.layer_spec(8)
    towers = {p: _tower(p) for p in parties}
    weights = {
        p: nn.Parameter(
            torch.tensor(
                initial_weight_share(CFG.seed, p, spec) + initial_noise_share(CFG.seed, p, spec),
                dtype=torch.float32,
            )
        )
        for p in parties
    }
    torch.manual_seed(CFG.seed)
    head = FusionHead(parties, 8, make_task("binary"), hidden=CFG.hidden)
    adam = torch.optim.Adam(
        [*head.parameters(), *(q for t in towers.values() for q in t.parameters())], lr=CFG.lr
    )
    sgd = torch.optim.SGD(weights.values(), lr=CFG.interactive_lr)
    schedule = Schedule(N, CFG.batch_size, CFG.seed, CFG.val_fraction)

    def logits(rows):
        return head({p: towers[p](inputs[p][rows]) @ weights[p] for p in parties})

    for epoch in range(EPOCHS):
        for rows in schedule.train_batches(epoch):
            rows = torch.as_tensor(rows)
            loss = head.task.loss(logits(rows), y[rows])
            adam.zero_grad(), sgd.zero_grad()
            loss.backward()
            adam.step(), sgd.step()
    val = torch.as_tensor(schedule.split()[1])
    with torch.no_grad():
        return roc_auc_score(y[val].numpy(), logits(val).squeeze(1).numpy())


def test_joint_beats_each_modality_and_matches_pooled(tmp_path):
    inputs, y = _data()
    joint = _split(inputs, y, ("imaging", "genomics"), tmp_path / "joint")
    alone = {p: _split(inputs, y, (p,), tmp_path / p) for p in ("imaging", "genomics")}
    pooled = _pooled(inputs, y, ("imaging", "genomics"))
    assert joint > max(alone.values()) + 0.05, (joint, alone)
    assert abs(joint - pooled) < 0.01, (joint, pooled)
