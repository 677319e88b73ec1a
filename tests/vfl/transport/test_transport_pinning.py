"""The training client pins the label party: the TLS handshake names who must serve.

Certificates come from `vfl certs init`, so every party's certificate is valid for the study CA
and for 127.0.0.1; only the party-name SAN tells the label party from the others.
"""

from __future__ import annotations

import time

import grpc
import pytest
from transport_fakes import HELLO, RUN, FakeService, GrpcRig

from psi import net
from vfl.errors import PeerIdentityError
from vfl.transport import GrpcTrainClient


def test_training_client_connects_to_the_label_party_it_pins(certs):
    service = FakeService()
    with GrpcRig(service, tls=certs("label")) as rig:
        reply = rig.client("imaging", tls=certs("imaging")).hello("imaging", HELLO)
    assert reply.session == "s-1"


def test_training_client_refuses_another_partys_certificate_at_the_label_address(certs):
    service = FakeService()
    # genomics, holding a valid certificate from the same CA, serves at the label address
    with GrpcRig(service, tls=certs("genomics")) as rogue:
        # without pinning the handshake accepts it: the certificate is valid for 127.0.0.1
        unpinned = net.make_channel(rogue.address, certs("imaging"), server_name="127.0.0.1")
        grpc.channel_ready_future(unpinned).result(timeout=10)
        unpinned.close()
        t0 = time.monotonic()
        with pytest.raises(PeerIdentityError) as err:
            GrpcTrainClient.connect(
                rogue.address,
                certs("imaging"),
                connect_timeout_s=30,
                run_id=RUN,
                me="imaging",
                peer_name="label",
            )
        elapsed = time.monotonic() - t0
    message = str(err.value)
    assert f"the server at {rogue.address}" in message
    assert "certificate for label party 'label'" in message
    assert elapsed < 15  # diagnosed at the first failed handshake, not after the timeout
    assert service.calls == []
