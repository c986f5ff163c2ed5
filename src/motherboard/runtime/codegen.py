"""Generate the Python stubs of the inference gRPC API from ``proto/grpc_predict_v2.proto``.

The stubs are committed (``proto/grpc_predict_v2_pb2.py``, ``_pb2_grpc.py``, ``_pb2.pyi``) so that a
serving image needs no protoc; a unit test regenerates them into a temporary folder and fails when they
differ. Run ``python -m motherboard.runtime.codegen`` after editing the ``.proto`` (needs grpcio-tools).
"""

from __future__ import annotations

import sys
from pathlib import Path

from motherboard import protogen

PROTO_DIR = Path(__file__).parent / "proto"
PROTO_FILE = PROTO_DIR / "grpc_predict_v2.proto"
GENERATED = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2_grpc.py", "grpc_predict_v2_pb2.pyi")


def generate(out_root: Path = protogen.SRC_ROOT) -> list[Path]:
    """Write the stubs below ``out_root`` (mirroring the package path) and return their paths."""
    module, service, stub = protogen.generate(PROTO_FILE, out_root)
    _private_pool(module)
    return [module, service, stub]


_DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
_PRIVATE_POOL = (
    "# motherboard.runtime.codegen: a private pool, because tritonclient (and KServe) register the same\n"
    "# 'inference.*' names in the default pool and protobuf refuses a second file defining them.\n"
    "DESCRIPTOR = _descriptor_pool.DescriptorPool().AddSerializedFile("
)


def _private_pool(module: Path) -> None:
    """Build the messages in a descriptor pool of their own.

    The wire needs the package ``inference`` (the service path is ``/inference.GRPCInferenceService/...``),
    and tritonclient's own stubs define the same symbols in protobuf's default pool: with both in the
    default pool, whichever is imported second fails ("duplicate symbol"). A private pool lets a test or a
    tool import tritonclient and these stubs in one process.
    """
    text = module.read_text()
    if _DEFAULT_POOL not in text:
        raise RuntimeError(f"{module}: protoc's output changed; cannot move it to a private descriptor pool")
    module.write_text(text.replace(_DEFAULT_POOL, _PRIVATE_POOL))


if __name__ == "__main__":  # pragma: no cover - developer entry point
    for path in generate():
        sys.stdout.write(f"wrote {path}\n")
