"""The training client pins the label party: the TLS handshake names who must serve.

Certificates come from `vfl certs init`, so every party's certificate is valid for the study CA
and for 127.0.0.1; only the party-name SAN tells the label party from the others.
"""

from __future__ import annotations

import time

import grpc
import pytest
from transport_fakes import RUN, FakeService, GrpcRig

from psi import net
from vfl.certs import init_certs
from vfl.errors import PeerIdentityError
from vfl.protocol import Hello
from vfl.transport import GrpcTrainClient

HELLO = Hello("imaging", "train", "plaintext", 3, 10, "d")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    issued = init_certs(tmp_path_factory.mktemp("certs"), ["label", "imaging", "genomics"])

    def tls(party):
        return net.TlsFiles(issued.ca_cert, issued.party_certs[party], issued.party_keys[party])

    return tls


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
