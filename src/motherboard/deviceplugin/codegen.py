"""Generate the Python stubs of the kubelet device plugin API from ``proto/api.proto``.

The stubs are committed (``proto/api_pb2.py``, ``api_pb2_grpc.py``, ``api_pb2.pyi``) so that the plugin
image needs no protoc; a unit test regenerates them into a temporary folder and fails when they differ.
Run ``python -m motherboard.deviceplugin.codegen`` after editing the ``.proto`` (needs grpcio-tools).
"""

from __future__ import annotations

import sys
from pathlib import Path

from motherboard import protogen

PROTO_DIR = Path(__file__).parent / "proto"
PROTO_FILE = PROTO_DIR / "api.proto"
GENERATED = ("api_pb2.py", "api_pb2_grpc.py", "api_pb2.pyi")


def generate(out_root: Path = protogen.SRC_ROOT) -> list[Path]:
    """Write the stubs below ``out_root`` (mirroring the package path) and return their paths."""
    return list(protogen.generate(PROTO_FILE, out_root))


if __name__ == "__main__":  # pragma: no cover - developer entry point
    for path in generate():
        sys.stdout.write(f"wrote {path}\n")
