"""The interactive-layer protocol (DESIGN §3) as pure, transport-agnostic state machines.

`PaillierFeatureLayer` runs at each feature party, `PaillierLabelLayer` at the label party
(one per feature party); the `Plain*` pair is the plaintext split-learning baseline with the
same message flow. Transports (`vfl.transport`) only carry the messages.
"""

from vfl.protocol.feature import PaillierFeatureLayer, PlainFeatureLayer
from vfl.protocol.label import PaillierLabelLayer, PlainLabelLayer
from vfl.protocol.messages import (
    BackwardFinish,
    BackwardReply,
    ForwardRequest,
)
from vfl.protocol.session import (
    Hello,
    HelloReply,
    SessionChangedError,
    Step,
    TrainService,
)
from vfl.protocol.spec import LayerSpec, check_packed, quantize_bounded

__all__ = [
    "BackwardFinish",
    "BackwardReply",
    "ForwardRequest",
    "Hello",
    "HelloReply",
    "LayerSpec",
    "PaillierFeatureLayer",
    "PaillierLabelLayer",
    "PlainFeatureLayer",
    "PlainLabelLayer",
    "SessionChangedError",
    "Step",
    "TrainService",
    "check_packed",
    "quantize_bounded",
]
