"""Fixtures for the transport tests: one real 1024-bit Paillier key pair per session, a fake
label-party service, a real gRPC server on a free loopback port, and a study's mTLS files."""

from __future__ import annotations

import numpy as np
import pytest
from transport_fakes import FakeService, GrpcRig

from psi import net
from vfl.certs import init_certs
from vfl.crypto import PaillierEngine, generate_keypair


@pytest.fixture(scope="session")
def engine():
    pk, sk = generate_keypair(1024)
    with PaillierEngine(pk, sk, workers=1) as eng:
        yield eng


@pytest.fixture(scope="session")
def other_key():
    return generate_keypair(1024)[0]


@pytest.fixture
def service():
    return FakeService()


@pytest.fixture
def rig(service, engine):
    # The fake echoes ciphertexts, so the "label party's" key is the feature party's here.
    with GrpcRig(service, label_key=engine.public_key) as r:
        yield r


@pytest.fixture
def alpha():
    return np.random.default_rng(0).uniform(-1, 1, (6, 3))


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """`certs(party)`: that party's TLS files from one `vfl certs init` study CA."""
    issued = init_certs(tmp_path_factory.mktemp("certs"), ["label", "imaging", "genomics"])

    def tls(party):
        return net.TlsFiles(issued.ca_cert, issued.party_certs[party], issued.party_keys[party])

    return tls
