"""The fusion head (label party's top model) and its task heads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

import vfl.fusion
from vfl.errors import ConfigError, TrainingError
from vfl.fusion import (
    BinaryTask,
    FusionHead,
    LocalProjection,
    MulticlassTask,
    RegressionTask,
    head_backward,
    make_task,
)

H = 4


def _zs(
    batch: int = 5, parties: tuple[str, ...] = ("genomics", "imaging")
) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {p: torch.randn(batch, H, generator=gen) for p in parties}


def test_fusion_all_is_pinned() -> None:
    assert sorted(vfl.fusion.__all__) == sorted(
        [
            "BinaryTask",
            "FusionHead",
            "HeadStep",
            "LocalProjection",
            "MulticlassTask",
            "RegressionTask",
            "Task",
            "TaskKind",
            "head_backward",
            "make_task",
        ]
    )
    assert all(hasattr(vfl.fusion, name) for name in vfl.fusion.__all__)


def test_sum_fusion_adds_projections_then_bias_then_activation() -> None:
    torch.manual_seed(0)
    head = FusionHead(["genomics", "imaging"], H, RegressionTask(), activation="none")
    with torch.no_grad():
        head.bias.copy_(torch.arange(H, dtype=torch.float32))
    zs = _zs()

    out = head(zs)

    expected = head.top(zs["genomics"] + zs["imaging"] + head.bias)
    assert torch.allclose(out, expected)
    assert head.bias.shape == (H,)


def test_relu_is_the_default_activation() -> None:
    head = FusionHead(["a"], H, BinaryTask())

    assert isinstance(head.activation, nn.ReLU)


def test_concat_fusion_keeps_party_order_and_widens_the_top() -> None:
    torch.manual_seed(0)
    head = FusionHead(["imaging", "genomics"], H, RegressionTask(), combine="concat")
    zs = _zs()

    out = head(zs)

    first = head.top[0]
    assert isinstance(first, nn.Linear) and first.in_features == 2 * H
    fused = torch.relu(torch.cat([zs["imaging"], zs["genomics"]], dim=1) + head.bias)
    assert torch.allclose(out, head.top(fused))


def test_sum_and_concat_differ_on_the_same_inputs() -> None:
    torch.manual_seed(0)
    sum_head = FusionHead(["a", "b"], H, RegressionTask(), hidden=[3])
    torch.manual_seed(0)
    cat_head = FusionHead(["a", "b"], H, RegressionTask(), hidden=[3], combine="concat")

    zs = _zs(parties=("a", "b"))

    assert sum_head(zs).shape == cat_head(zs).shape == (5, 1)
    assert not torch.allclose(sum_head(zs), cat_head(zs))


def test_local_projection_is_a_bias_free_linear_into_the_latent_space() -> None:
    torch.manual_seed(0)
    head = FusionHead(["imaging"], H, BinaryTask(), local_dim=6, activation="none")
    own = torch.randn(5, 6)
    zs = _zs(parties=("imaging",))

    out = head(zs, own)

    assert isinstance(head.local, LocalProjection) and head.local.bias is None
    assert torch.allclose(out, head.top(zs["imaging"] + own @ head.local.weight.T + head.bias))
    assert LocalProjection(6, H, bias=True).bias is not None


def test_label_party_with_only_its_own_tower_is_allowed() -> None:
    head = FusionHead([], H, BinaryTask(), local_dim=3)

    assert head({}, torch.randn(2, 3)).shape == (2, 1)


def test_head_backward_returns_the_gradient_for_each_projection() -> None:
    torch.manual_seed(0)
    head = FusionHead(["a", "b"], H, BinaryTask(), hidden=[8])
    zs = _zs(batch=6, parties=("a", "b"))
    targets = torch.tensor([0, 1, 0, 1, 1, 0])

    step = head_backward(head, zs, targets)

    leaves = {p: z.clone().requires_grad_(True) for p, z in zs.items()}
    loss = head.task.loss(head(leaves), targets)
    expected = torch.autograd.grad(loss, [leaves["a"], leaves["b"]])
    assert torch.allclose(step.grads["a"], expected[0])
    assert torch.allclose(step.grads["b"], expected[1])
    assert torch.allclose(step.loss, loss.detach())
    assert head.bias.grad is not None and not step.loss.requires_grad


def test_sum_fusion_gives_every_party_the_same_gradient() -> None:
    torch.manual_seed(0)
    head = FusionHead(["a", "b"], H, RegressionTask())

    step = head_backward(head, _zs(parties=("a", "b")), torch.randn(5))

    assert torch.equal(step.grads["a"], step.grads["b"])
    assert step.grads["a"].abs().sum() > 0


def test_head_backward_accepts_numpy_projections_and_reaches_the_own_tower() -> None:
    torch.manual_seed(0)
    own_tower = nn.Linear(3, 2)
    head = FusionHead(["a"], H, MulticlassTask(3), local_dim=2)
    zs = {"a": np.random.default_rng(0).normal(size=(4, H))}

    step = head_backward(head, zs, torch.tensor([0, 2, 1, 0]), local=own_tower(torch.randn(4, 3)))

    assert step.grads["a"].dtype == torch.float32 and step.grads["a"].shape == (4, H)
    assert own_tower.weight.grad is not None and own_tower.weight.grad.abs().sum() > 0


def test_training_the_head_reduces_the_loss() -> None:
    torch.manual_seed(0)
    head = FusionHead(["a"], H, BinaryTask(), hidden=[8])
    zs = _zs(batch=32, parties=("a",))
    targets = (zs["a"][:, 0] > 0).long()
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    first = head_backward(head, zs, targets).loss

    for _ in range(30):
        optimizer.zero_grad()
        head_backward(head, zs, targets)
        optimizer.step()

    assert head_backward(head, zs, targets).loss < 0.5 * first


@pytest.mark.parametrize(
    ("zs", "local", "fragment"),
    [
        ({"a": torch.zeros(2, H)}, None, r"expects projections from \['a', 'b'\]"),
        ({"a": torch.zeros(2, H), "b": torch.zeros(3, H)}, None, "batch size"),
        ({"a": torch.zeros(2, H), "b": torch.zeros(2, H + 1)}, None, "'b' has shape"),
        ({"a": torch.zeros(2, H), "b": torch.zeros(2, H)}, torch.zeros(2, 3), "has no projection"),
    ],
)
def test_mismatched_inputs_are_training_errors(
    zs: dict[str, torch.Tensor], local: torch.Tensor | None, fragment: str
) -> None:
    head = FusionHead(["a", "b"], H, BinaryTask())

    with pytest.raises(TrainingError, match=fragment):
        head(zs, local)


def test_missing_own_embedding_is_a_training_error() -> None:
    head = FusionHead(["a"], H, BinaryTask(), local_dim=3)

    with pytest.raises(TrainingError, match="needs the label party's own embedding"):
        head({"a": torch.zeros(2, H)})


def test_invalid_head_arguments_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        FusionHead(["a", "a"], 0, BinaryTask(), combine="max", activation="gelu", dropout=1.0)  # type: ignore[arg-type]

    assert len(info.value.problems) == 5


# --- task heads -------------------------------------------------------------------------------


def test_binary_loss_is_bce_with_logits_and_metric_is_auc() -> None:
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    targets = torch.tensor([1, 0, 0, 1])
    task = BinaryTask()

    loss = task.loss(logits, targets)

    p = torch.sigmoid(logits[:, 0])
    t = targets.float()
    manual = -(t * p.log() + (1 - t) * (1 - p).log()).mean()
    assert torch.allclose(loss, manual)
    assert task.metric(logits, targets) == pytest.approx(roc_auc_score(t, p)) == 0.5
    assert torch.allclose(task.predict(logits), p)


def test_binary_auc_is_nan_when_one_class_only_and_bad_labels_are_refused() -> None:
    task = BinaryTask()

    assert math.isnan(task.metric(torch.zeros(3, 1), torch.ones(3)))
    with pytest.raises(TrainingError, match="0 or 1"):
        task.loss(torch.zeros(2, 1), torch.tensor([0.0, 2.0]))


def test_multiclass_loss_is_cross_entropy_and_metric_is_accuracy() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    targets = torch.tensor([0, 1, 0, 2])
    task = MulticlassTask(3)

    loss = task.loss(logits, targets)

    manual = -torch.log_softmax(logits, 1)[torch.arange(4), targets].mean()
    assert torch.allclose(loss, manual)
    assert task.metric(logits, targets) == 0.5
    assert torch.allclose(task.predict(logits).sum(1), torch.ones(4))
    with pytest.raises(TrainingError, match=r"\[0, 3\)"):
        task.loss(logits, torch.tensor([0, 1, 3, 0]))


def test_regression_loss_is_mse_and_metric_is_rmse() -> None:
    logits = torch.tensor([[1.0], [2.0], [4.0]])
    targets = torch.tensor([1.0, 0.0, 1.0])
    task = RegressionTask()

    assert task.loss(logits, targets).item() == pytest.approx((0 + 4 + 9) / 3)
    assert task.metric(logits, targets) == pytest.approx(math.sqrt(13 / 3))
    assert task.evaluate(logits, targets) == pytest.approx(
        {"loss": 13 / 3, "rmse": math.sqrt(13 / 3)}
    )
    assert not task.higher_is_better and BinaryTask().higher_is_better


def test_make_task_by_name_and_its_errors() -> None:
    assert isinstance(make_task("binary"), BinaryTask)
    assert make_task("multiclass", n_classes=4).n_outputs == 4
    assert make_task("regression", n_targets=2).n_outputs == 2
    with pytest.raises(ConfigError, match="n_classes"):
        make_task("multiclass")
    with pytest.raises(ConfigError, match="unknown task 'ordinal'"):
        make_task("ordinal")


def test_logit_shape_mismatch_is_a_training_error() -> None:
    with pytest.raises(TrainingError, match=r"\(batch, 1\)"):
        BinaryTask().loss(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(TrainingError, match="3 targets for a batch of 2"):
        RegressionTask().loss(torch.zeros(2, 1), torch.zeros(3))
