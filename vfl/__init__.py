"""vfl: vertical federated learning with PSI alignment and a Paillier-protected split NN.

Sub-packages, one concern each: `vfl.crypto` (Paillier engine), `vfl.towers` (modality
towers), `vfl.protocol` (interactive-layer state machines), `vfl.transport` (gRPC and
in-process), `vfl.party` (label and feature runners), `vfl.data` (loaders), `vfl.audit`
(transcripts). Importing `vfl` itself stays light: it does not import torch.
"""

from vfl.errors import VflError

__version__ = "0.1.0"

__all__ = ["VflError", "__version__"]
