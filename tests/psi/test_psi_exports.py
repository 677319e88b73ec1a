"""The public API of `psi` is pinned: a change here is a deliberate API change."""

from __future__ import annotations

import psi


def test_psi_all_is_pinned() -> None:
    assert sorted(psi.__all__) == [
        "AlignConfig",
        "AlignmentError",
        "ConfigError",
        "IdSet",
        "InputDataError",
        "IntersectionTooSmallError",
        "NetworkConfig",
        "OrderMismatchError",
        "PartyConfig",
        "PeerError",
        "PeerIdentityError",
        "PeerRefusedError",
        "PeerTimeoutError",
        "PeerUnreachableError",
        "ProtocolViolationError",
        "PsiConfig",
        "VflError",
        "align",
        "load_psi_config",
        "normalize",
        "read_ids",
    ]
    for name in psi.__all__:
        assert getattr(psi, name) is not None


def test_psi_never_imports_vfl() -> None:
    import subprocess
    import sys

    code = (
        "import sys, psi, psi.run, psi.net; "
        "print(any(m == 'vfl' or m.startswith('vfl.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
