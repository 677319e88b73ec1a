"""Mutual TLS: the certificate's common name must be the party the envelope claims."""

from __future__ import annotations

import pytest
from transport_fakes import HELLO, FakeService, GrpcRig

from vfl.errors import PeerRefusedError


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
