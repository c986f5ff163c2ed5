"""Generate committed Python gRPC stubs from a ``.proto`` inside the package (the device plugin's kubelet
API, the runtime's inference API): one protoc invocation for both, so the two cannot drift.

Stubs are committed so that images need no protoc; each package's unit test regenerates them into a
temporary folder and fails when they differ.
"""

from __future__ import annotations

from pathlib import Path

SRC_ROOT = Path(__file__).resolve().parents[1]
"""The include root: protoc derives a stub's imports from the path below it (``motherboard.…``)."""
STUB_HEADER = "# mypy: ignore-errors\n"


def generate(proto: Path, out_root: Path = SRC_ROOT) -> tuple[Path, Path, Path]:
    """Run protoc on ``proto``; return the ``_pb2.py``, ``_pb2_grpc.py`` and ``_pb2.pyi`` written.

    The ``.pyi`` is prefixed with ``# mypy: ignore-errors``: mypy discovers it (the project's exclude
    pattern names ``*_pb2*.py`` only) and protobuf ships no types, so every message class would be an error.
    """
    try:
        from grpc_tools import protoc
    except ImportError as exc:  # pragma: no cover - grpcio-tools is a dev dependency
        raise SystemExit("grpcio-tools is not installed: pip install 'motherboard[dev]'") from exc
    out_root.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{SRC_ROOT}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        str(proto),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {proto}")
    out_dir = out_root / proto.relative_to(SRC_ROOT).parent
    stem = proto.stem
    module, service, stub = (
        out_dir / f"{stem}_pb2.py",
        out_dir / f"{stem}_pb2_grpc.py",
        out_dir / f"{stem}_pb2.pyi",
    )
    stub.write_text(STUB_HEADER + stub.read_text())
    return module, service, stub
