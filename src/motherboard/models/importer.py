"""Import an ONNX model once: read, pin, check, infer shapes, apply the user's input/output overrides.

Every failure is a :class:`ModelError` naming the field or the operator and the fix, raised before anything
is written anywhere. The result, :class:`ImportedModel`, is what analysis and every backend start from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motherboard.models.digests import digest_bytes
from motherboard.models.errors import ModelError
from motherboard.models.tensors import TensorSpec, datatype_of_onnx

DEFAULT_MAX_BYTES = 2 << 30
"""2 GiB: protobuf's own limit for a single-file ONNX model."""


@dataclass(frozen=True)
class ImportedModel:
    """A checked ONNX model with its identity (digest of the file's bytes) and its interface."""

    proto: Any
    """``onnx.ModelProto`` after shape inference and overrides."""
    digest: str
    """The model's identity: the source's digest, combined with the overrides' when there are any."""
    source_digest: str
    size_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    opset: int
    source: str

    def serialized(self) -> bytes:
        return bytes(self.proto.SerializeToString())


def read_source(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a model file, refusing a missing, unreadable or oversized one."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelError(f"source {path}: no such file") from None
    except OSError as exc:
        raise ModelError(f"source {path}: cannot be read ({exc.strerror})") from None
    if path.is_dir():
        raise ModelError(f"source {path}: is a directory; name the .onnx file")
    if size > max_bytes:
        raise ModelError(
            f"source {path}: {size / 2**20:.1f} MiB is over the limit of {max_bytes / 2**20:.0f} MiB "
            "(raise --max-size if the model is meant to be this large)"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"source {path}: cannot be read ({exc.strerror})") from None


def _specs(values: Sequence[Any], skip: set[str]) -> tuple[TensorSpec, ...]:
    specs = []
    for value in values:
        if value.name in skip:
            continue
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type"):
            raise ModelError(
                f"{value.name}: only tensor inputs and outputs are supported (not sequences/maps)"
            )
        dims = tensor.shape.dim if tensor.HasField("shape") else ()
        shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
        names = tuple(d.dim_param if d.HasField("dim_param") else "" for d in dims)
        specs.append(
            TensorSpec(value.name, datatype_of_onnx(tensor.elem_type), shape, names if any(names) else ())
        )
    return tuple(specs)


def _apply_override(value: Any, override: TensorSpec, current: TensorSpec, field: str) -> None:
    if override.datatype != current.datatype:
        raise ModelError(
            f"{field}[{override.name}].dtype: the model's {override.name} is {current.datatype}, "
            f"not {override.datatype}; an override may fix dimensions, not change types"
        )
    if current.shape and len(override.shape) != len(current.shape):
        raise ModelError(
            f"{field}[{override.name}].shape: rank {len(override.shape)} does not match the model's "
            f"{list(current.shape)} (rank {len(current.shape)})"
        )
    for axis, (want, have) in enumerate(zip(override.shape, current.shape or override.shape, strict=True)):
        if have >= 0 and want != have:
            raise ModelError(
                f"{field}[{override.name}].shape[{axis}]: the model fixes this dimension at {have}, "
                f"the override says {want}; use {have} or -1"
            )
    dims = value.type.tensor_type.shape.dim
    if not current.shape:
        for _ in override.shape:
            dims.add()
    for axis, want in enumerate(override.shape):
        if want >= 0:
            dims[axis].dim_value = want
        elif not dims[axis].dim_param:
            dims[axis].dim_param = "batch" if axis == 0 else f"{override.name}_dim{axis}"


def _override(
    values: Any,
    overrides: Sequence[TensorSpec],
    field: str,
    skip: set[str],
    free: frozenset[str] = frozenset(),
) -> None:
    """Apply overrides to graph inputs or outputs; ``free`` are the inputs' symbolic dimensions still dynamic."""
    current = {spec.name: spec for spec in _specs(values, skip)}
    by_name = {v.name: v for v in values}
    for override in overrides:
        if override.name not in current:
            raise ModelError(
                f"{field}[{override.name}]: the model has no such {field[:-1]}; it has {', '.join(current) or 'none'}"
            )
        spec = current[override.name]
        for axis, (want, name) in enumerate(zip(override.shape, spec.dim_names or (), strict=False)):
            if want >= 0 and name in free:
                raise ModelError(
                    f"{field}[{override.name}].shape[{axis}]: follows the input dimension {name!r}, which stays "
                    f"dynamic; fix it on the input instead (or use -1)"
                )
        _apply_override(by_name[override.name], override, spec, field)


def _interface(specs: tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]) -> list[list[dict[str, Any]]]:
    return [
        [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in group] for group in specs
    ]


def import_onnx(
    path: Path,
    *,
    sha256: str | None = None,
    inputs: Sequence[TensorSpec] = (),
    outputs: Sequence[TensorSpec] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImportedModel:
    """Read and check an ONNX file; apply overrides (``-1`` keeps a dimension dynamic).

    ``sha256`` pins the file's content (``sha256:<hex>`` or bare hex); a mismatch is refused.
    """
    import onnx
    from google.protobuf.message import DecodeError

    data = read_source(path, max_bytes)
    digest = digest_bytes(data)
    if sha256 and digest.removeprefix("sha256:") != sha256.removeprefix("sha256:").lower():
        raise ModelError(
            f"sha256: the source's digest is {digest}, the pin says {sha256}; fix the pin or the file"
        )
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelError(f"source {path}: not an ONNX model (truncated or corrupt: {exc})") from None
    if not proto.graph.node:
        raise ModelError(f"source {path}: not an ONNX model (no graph nodes; truncated or not ONNX)")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"source {path}: the ONNX checker refuses it: {first}") from None
    initializers = {i.name for i in proto.graph.initializer}
    original = (_specs(proto.graph.input, initializers), _specs(proto.graph.output, set()))
    _override(proto.graph.input, inputs, "inputs", initializers)
    try:
        proto = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise ModelError(f"shape inference fails with these shapes: {str(exc).splitlines()[0]}") from None
    # Outputs are checked against what inference derived from the (overridden) inputs, so an override
    # cannot promise a shape the graph does not produce.
    free = frozenset(
        n
        for spec in _specs(proto.graph.input, initializers)
        for axis, n in enumerate(spec.dim_names)
        if n and spec.shape[axis] < 0
    )
    _override(proto.graph.output, outputs, "outputs", set(), free)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    effective = (_specs(proto.graph.input, initializers), _specs(proto.graph.output, set()))
    identity = digest
    if (inputs or outputs) and _interface(effective) != _interface(original):
        # Only an override that changes the interface makes another model (a no-op one compiles nothing anew).
        identity = digest_bytes(data + json.dumps(_interface(effective), sort_keys=True).encode())
    return ImportedModel(
        proto=proto,
        digest=identity,
        source_digest=digest,
        size_bytes=len(data),
        inputs=effective[0],
        outputs=effective[1],
        opset=opset,
        source=str(path),
    )
