"""Transports for stage 2: they carry `TrainService` calls and nothing else.

`GrpcTrainClient` (feature party) and `add_train_service` (label party) speak
`protocols/train.proto` over gRPC with envelopes, sequence numbers, deadlines, retries and
mTLS identity checks; `InProcessTransport` calls a service directly (unit tests), by default
through the same codec. `vfl.transport.serde` is the one place where protocol messages become
protobuf and back.

Label party::

    server, port = psi.net.make_server(listen, tls)
    add_train_service(server, service, run_id=run_id, me="label", parties=["imaging"])
    server.start()

Feature party::

    with GrpcTrainClient.connect(address, tls, run_id=run_id, me="imaging") as label:
        reply = label.hello("imaging", hello)
"""

from vfl.transport._wire import SERVICE, STEPS, TRAIN_PROTOCOL_VERSION
from vfl.transport.grpc_client import Deadlines, GrpcTrainClient
from vfl.transport.grpc_server import PublicKeyFor, TrainServicer, add_train_service
from vfl.transport.inprocess import InProcessTransport

__all__ = [
    "SERVICE",
    "STEPS",
    "TRAIN_PROTOCOL_VERSION",
    "Deadlines",
    "GrpcTrainClient",
    "InProcessTransport",
    "PublicKeyFor",
    "TrainServicer",
    "add_train_service",
]
