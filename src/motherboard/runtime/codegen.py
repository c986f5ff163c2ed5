"""Generate the Python stubs of the inference gRPC API from ``proto/grpc_predict_v2.proto``.

The stubs are committed (``proto/grpc_predict_v2_pb2.py``, ``_pb2_grpc.py``, ``_pb2.pyi``) so that a
serving image needs no protoc; a unit test regenerates them into a temporary folder and fails when they
differ. Run ``python -m motherboard.runtime.codegen`` after editing the ``.proto`` (needs grpcio-tools).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_DIR = Path(__file__).parent / "proto"
PROTO_FILE = PROTO_DIR / "grpc_predict_v2.proto"
GENERATED = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2_grpc.py", "grpc_predict_v2_pb2.pyi")
# The include root is ``src/`` so that the generated ``_pb2_grpc.py`` imports ``_pb2`` by its full package
# path (protoc derives the import from the path below the include root).
_SRC_ROOT = PROTO_DIR.parents[2]
_STUB_HEADER = "# mypy: ignore-errors\n"


def generate(out_root: Path = _SRC_ROOT) -> list[Path]:
    """Write the stubs below ``out_root`` (mirroring the package path) and return their paths."""
    try:
        from grpc_tools import protoc
    except ImportError as exc:  # pragma: no cover - grpcio-tools is a dev dependency
        raise SystemExit("grpcio-tools is not installed: pip install 'motherboard[dev]'") from exc
    out_root.mkdir(parents=True, exist_ok=True)
    relative = PROTO_FILE.relative_to(_SRC_ROOT)
    args = [
        "grpc_tools.protoc",
        f"-I{_SRC_ROOT}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        str(PROTO_FILE),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO_FILE}")
    out_dir = out_root / relative.parent
    _private_pool(out_dir / GENERATED[0])
    # mypy finds the .pyi (the exclude pattern names *_pb2*.py only) and protobuf ships no types.
    stub = out_dir / GENERATED[2]
    stub.write_text(_STUB_HEADER + stub.read_text())
    return [out_dir / name for name in GENERATED]


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
