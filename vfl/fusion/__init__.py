"""The label party's fusion head (top model) and the task heads it ends in.

`FusionHead` fuses per-party projections from the interactive layer (plus, optionally, the
label party's own tower through a `LocalProjection`), and `head_backward` returns the gradient
for each party's projection. Tasks: `BinaryTask` (AUC), `MulticlassTask` (accuracy),
`RegressionTask` (RMSE), chosen by name with `make_task`.
"""

from vfl.fusion.head import FusionHead, HeadStep, LocalProjection, head_backward
from vfl.fusion.tasks import (
    BinaryTask,
    MulticlassTask,
    RegressionTask,
    Task,
    TaskKind,
    make_task,
)

__all__ = [
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
