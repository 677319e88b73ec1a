"""Mutual TLS: the certificate's common name must be the party the envelope claims."""

from __future__ import annotations

import pytest
from transport_fakes import FakeService, GrpcRig

from psi import net
from vfl.certs import init_certs
from vfl.errors import PeerRefusedError
from vfl.protocol import Hello

HELLO = Hello("imaging", "train", "plaintext", 3, 10, "d")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    issued = init_certs(tmp_path_factory.mktemp("certs"), ["label", "imaging", "genomics"])

    def tls(party):
        return net.TlsFiles(issued.ca_cert, issued.party_certs[party], issued.party_keys[party])

    return tls


def test_party_with_its_own_certificate_is_served(certs):
    service = FakeService()
    with GrpcRig(service, tls=certs("label")) as rig:
        reply = rig.client("imaging", tls=certs("imaging")).hello("imaging", HELLO)
    assert reply.session == "s-1"
    assert service.named("hello")[0][1] == "imaging"


def test_party_claiming_another_identity_is_refused(certs):
    service = FakeService()
    with GrpcRig(service, tls=certs("label")) as rig:
        impostor = rig.client("imaging", tls=certs("genomics"))
        with pytest.raises(PeerRefusedError, match="certificate is for 'genomics'"):
            impostor.hello("imaging", HELLO)
    assert service.calls == []
