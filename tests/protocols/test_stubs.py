"""The committed stubs must be exactly what `scripts/gen-protos` produces from the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOS = sorted((ROOT / "protocols").glob("*.proto"))


def _generate(out: Path) -> None:
    # The same protoc invocation as scripts/gen-protos (which also sets up the venv first).
    cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT)]
    cmd += [f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}"]
    subprocess.run(cmd + [str(p) for p in PROTOS], check=True, capture_output=True)


def test_there_are_protos() -> None:
    assert {p.name for p in PROTOS} >= {"align.proto", "common.proto"}


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.stem)
def test_committed_stubs_match_proto(proto: Path, tmp_path: Path) -> None:
    _generate(tmp_path)
    for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
        name = proto.stem + suffix
        fresh = (tmp_path / "protocols" / name).read_text()
        committed = (ROOT / "protocols" / name).read_text()
        assert committed == fresh, f"protocols/{name} drifted: run scripts/gen-protos"


def test_stubs_import_with_pinned_runtime() -> None:
    import protocols.align_pb2 as align_pb2
    import protocols.align_pb2_grpc as align_pb2_grpc

    methods = align_pb2.DESCRIPTOR.services_by_name["Alignment"].methods_by_name
    assert set(methods) == {"Hello", "Exchange", "Respond", "Result", "Final", "Confirm", "Abort"}
    assert hasattr(align_pb2_grpc, "AlignmentServicer")
