"""Task heads: what the fusion head predicts, its loss, and the metric reported each epoch.

- ``binary``: one logit; BCE with logits; metric ROC AUC (higher is better).
- ``multiclass``: one logit per class; cross-entropy; metric accuracy (higher is better).
- ``regression``: one output per target; MSE; metric RMSE (lower is better).

Losses are batch means, so the gradient a feature party receives does not grow with the batch
size (the interactive layer's gradient bound relies on that).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from vfl.errors import ConfigError, TrainingError

__all__ = [
    "BinaryTask",
    "MulticlassTask",
    "RegressionTask",
    "Task",
    "TaskKind",
    "make_task",
]

TaskKind = Literal["binary", "multiclass", "regression"]


class Task(ABC):
    """A prediction task: output width, loss, prediction transform and metric."""

    #: The task's name in configs and summaries.
    kind: TaskKind
    #: Name of the metric `metric` returns (``"auc"``, ``"accuracy"`` or ``"rmse"``).
    metric_name: str
    #: Whether a larger metric is better (for early stopping and model selection).
    higher_is_better: bool

    def __init__(self, n_outputs: int) -> None:
        self.n_outputs = n_outputs

    @abstractmethod
    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch (differentiable)."""

    @abstractmethod
    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Turn logits into predictions (probabilities, class probabilities or values)."""

    @abstractmethod
    def metric(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        """The task's metric over all given rows (e.g. a whole validation epoch)."""

    def evaluate(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """``{"loss": ..., metric_name: ...}`` over all given rows, without gradients."""
        with torch.no_grad():
            loss = float(self.loss(logits.detach(), targets))
        return {"loss": loss, self.metric_name: self.metric(logits, targets)}

    def _rows(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        if logits.ndim != 2 or logits.shape[1] != self.n_outputs:
            raise TrainingError(
                f"{self.kind} head expects logits of shape (batch, {self.n_outputs}), "
                f"got {tuple(logits.shape)}"
            )
        if targets.shape[0] != logits.shape[0]:
            raise TrainingError(
                f"{targets.shape[0]} targets for a batch of {logits.shape[0]} predictions"
            )


class BinaryTask(Task):
    """Binary classification: one logit, BCE with logits, ROC AUC."""

    kind: TaskKind = "binary"
    metric_name = "auc"
    higher_is_better = True

    def __init__(self) -> None:
        super().__init__(1)

    def _targets(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self._rows(logits, targets)
        flat = targets.reshape(targets.shape[0], -1)
        if flat.shape[1] != 1:
            raise TrainingError(f"binary targets must be one per row, got {tuple(targets.shape)}")
        flat = flat[:, 0].to(logits.dtype)
        if bool(((flat != 0) & (flat != 1)).any()):
            raise TrainingError("binary targets must be 0 or 1")
        return flat

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy on the logit (numerically stable)."""
        return nn.functional.binary_cross_entropy_with_logits(
            logits[:, 0], self._targets(logits, targets)
        )

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Probability of the positive class, shape (batch,)."""
        return torch.sigmoid(logits[:, 0])

    def metric(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        """ROC AUC; NaN when the rows hold only one class (AUC is undefined there)."""
        labels = self._targets(logits, targets).detach().cpu().numpy()
        if np.unique(labels).size < 2:
            return math.nan
        scores = logits[:, 0].detach().cpu().numpy()
        return float(roc_auc_score(labels, scores))


class MulticlassTask(Task):
    """Multi-class classification: one logit per class, cross-entropy, accuracy."""

    kind: TaskKind = "multiclass"
    metric_name = "accuracy"
    higher_is_better = True

    def __init__(self, n_classes: int) -> None:
        if n_classes < 2:
            raise ConfigError(f"multiclass needs n_classes >= 2, got {n_classes}")
        super().__init__(n_classes)

    def _targets(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self._rows(logits, targets)
        labels = targets.reshape(-1)
        if labels.shape[0] != logits.shape[0] or labels.is_floating_point():
            raise TrainingError("multiclass targets must be one integer class index per row")
        if bool(((labels < 0) | (labels >= self.n_outputs)).any()):
            raise TrainingError(f"multiclass targets must lie in [0, {self.n_outputs})")
        return labels.long()

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy."""
        return nn.functional.cross_entropy(logits, self._targets(logits, targets))

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities, shape (batch, n_classes)."""
        return torch.softmax(logits, dim=1)

    def metric(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        """Share of rows whose arg-max class is the target."""
        labels = self._targets(logits, targets)
        return float((logits.detach().argmax(dim=1) == labels).double().mean())


class RegressionTask(Task):
    """Regression: one output per target, MSE, RMSE."""

    kind: TaskKind = "regression"
    metric_name = "rmse"
    higher_is_better = False

    def __init__(self, n_targets: int = 1) -> None:
        if n_targets < 1:
            raise ConfigError(f"regression needs n_targets >= 1, got {n_targets}")
        super().__init__(n_targets)

    def _targets(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self._rows(logits, targets)
        values = targets.reshape(targets.shape[0], -1).to(logits.dtype)
        if values.shape != logits.shape:
            raise TrainingError(
                f"regression targets of shape {tuple(targets.shape)} do not match outputs "
                f"{tuple(logits.shape)}"
            )
        return values

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error over rows and targets."""
        return nn.functional.mse_loss(logits, self._targets(logits, targets))

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """The outputs themselves, shape (batch,) for one target, else (batch, n_targets)."""
        return logits[:, 0] if self.n_outputs == 1 else logits

    def metric(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        """Root mean squared error."""
        values = self._targets(logits, targets)
        return math.sqrt(float(((logits.detach() - values) ** 2).double().mean()))


def make_task(kind: str, n_classes: int | None = None, n_targets: int = 1) -> Task:
    """Return the task for a config's ``task`` value.

    Raises:
        ConfigError: Unknown kind, or ``multiclass`` without ``n_classes``.
    """
    if kind == "binary":
        return BinaryTask()
    if kind == "multiclass":
        if n_classes is None:
            raise ConfigError("task 'multiclass' needs n_classes")
        return MulticlassTask(n_classes)
    if kind == "regression":
        return RegressionTask(n_targets)
    raise ConfigError(f"unknown task {kind!r}; expected 'binary', 'multiclass' or 'regression'")
