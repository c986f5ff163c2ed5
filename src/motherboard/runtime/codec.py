"""Tensors on the wire: the REST infer body (JSON plus the binary tensor extension) and its checks.

A REST request is a JSON header, optionally followed by raw tensor bytes: the HTTP header
``Inference-Header-Content-Length`` gives the JSON's length and each binary input says its byte count in
``parameters.binary_data_size``, in input order. Every length is checked against the shape and datatype
before a byte is read as a tensor, so a header that lies about lengths is a 400 naming the input, never a
wrong tensor. Binary inputs become numpy views over the request body (no copy).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from motherboard.models.errors import ModelError
from motherboard.models.tensors import TensorSpec, numpy_of_datatype
from motherboard.runtime.errors import invalid

MAX_RANK = 16


@dataclass
class InputTensor:
    """One decoded input."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray[Any, Any]


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferRequest:
    """A protocol-neutral infer request (REST and gRPC decode into it, the core serves it)."""

    inputs: list[InputTensor]
    outputs: list[RequestedOutput] | None = None
    """``None``: every output of the model."""
    id: str = ""
    binary_output: bool = False
    """For outputs not named: answer in binary (the request's ``binary_data_output``)."""
    parameters: dict[str, Any] = field(default_factory=dict)


def _dtype(name: str, datatype: Any) -> np.dtype[Any]:
    if not isinstance(datatype, str):
        raise invalid(f"input '{name}': datatype must be a string, got {datatype!r}")
    try:
        return numpy_of_datatype(datatype)
    except ModelError as exc:
        raise invalid(f"input '{name}': {exc}") from None


def check_shape(name: str, shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, list | tuple) or len(shape) > MAX_RANK:
        raise invalid(f"input '{name}': shape must be a list of at most {MAX_RANK} integers, got {shape!r}")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise invalid(f"input '{name}': shape must hold non-negative integers, got {list(shape)}")
    return tuple(int(d) for d in shape)


def tensor_from_data(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray[Any, Any]:
    """An input given as JSON ``data`` (a flat, row-major list; nested lists are accepted too)."""
    dtype = _dtype(name, datatype)
    count = math.prod(shape)
    if not isinstance(data, list):
        raise invalid(f"input '{name}': data must be a list, got {type(data).__name__}")
    try:
        if dtype.kind == "O":
            flat = np.array([_as_bytes(name, x) for x in data], dtype=object)
        else:
            if any(isinstance(x, str) for x in data[:1]):
                raise TypeError("strings")
            flat = np.array(data, dtype=dtype).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise invalid(f"input '{name}': data is not a list of {datatype} values") from None
    if flat.size != count:
        raise invalid(f"input '{name}': shape {list(shape)} needs {count} values, data has {flat.size}")
    return flat.reshape(shape)


def _as_bytes(name: str, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    raise invalid(f"input '{name}': BYTES data must be strings, got {type(value).__name__}")


def tensor_from_bytes(
    name: str, datatype: str, shape: tuple[int, ...], raw: memoryview
) -> np.ndarray[Any, Any]:
    """An input given as raw little-endian row-major bytes; ``raw`` is viewed, not copied."""
    dtype = _dtype(name, datatype)
    count = math.prod(shape)
    if dtype.kind == "O":
        items = _split_bytes(name, raw)
        if len(items) != count:
            raise invalid(
                f"input '{name}': shape {list(shape)} needs {count} BYTES elements, got {len(items)}"
            )
        return np.array(items, dtype=object).reshape(shape)
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise invalid(
            f"input '{name}': shape {list(shape)} of {datatype} needs {expected} bytes, got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(shape)


def _split_bytes(name: str, raw: memoryview) -> list[bytes]:
    """BYTES elements on the wire: each a 4-byte little-endian length, then that many bytes."""
    items = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise invalid(f"input '{name}': BYTES element at byte {offset} has a truncated length prefix")
        length = int.from_bytes(raw[offset : offset + 4], "little")
        offset += 4
        if offset + length > len(raw):
            raise invalid(
                f"input '{name}': BYTES element at byte {offset - 4} claims {length} bytes past the end"
            )
        items.append(bytes(raw[offset : offset + length]))
        offset += length
    return items


def tensor_to_bytes(array: np.ndarray[Any, Any]) -> bytes:
    """An output as raw bytes (BYTES as length-prefixed elements)."""
    if array.dtype.kind == "O":
        parts = []
        for item in array.reshape(-1):
            data = item if isinstance(item, bytes) else str(item).encode()
            parts.append(len(data).to_bytes(4, "little") + data)
        return b"".join(parts)
    return np.ascontiguousarray(array).tobytes()


def _parameters(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{where}parameters must be an object, got {type(value).__name__}")
    return value


def parse_rest_request(body: bytes, header_length: int | None) -> InferRequest:
    """Decode a REST infer body; ``InferError`` (400) naming the field or input on any inconsistency."""
    if header_length is None:
        header_length = len(body)
    elif not 0 < header_length <= len(body):
        raise invalid(
            f"Inference-Header-Content-Length {header_length} does not fit the body of {len(body)} bytes"
        )
    try:
        doc = json.loads(body[:header_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid(f"request JSON is invalid: {exc}") from None
    if not isinstance(doc, dict):
        raise invalid(f"request JSON must be an object, got {type(doc).__name__}")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise invalid("inputs: expected a non-empty list of input tensors")
    binary = memoryview(body)[header_length:]
    offset = 0
    inputs: list[InputTensor] = []
    seen: set[str] = set()
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise invalid(f"inputs[{i}]: expected an object")
        name = item.get("name")
        if not isinstance(name, str):
            raise invalid(f"inputs[{i}].name: expected a string, got {name!r}")
        if name in seen:
            raise invalid(f"input '{name}' is given twice")
        seen.add(name)
        datatype = item.get("datatype")
        if not isinstance(datatype, str):
            raise invalid(f"input '{name}': datatype must be a string, got {datatype!r}")
        shape = check_shape(name, item.get("shape"))
        params = _parameters(f"input '{name}': ", item.get("parameters"))
        size = params.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise invalid(
                    f"input '{name}': binary_data_size must be a non-negative integer, got {size!r}"
                )
            if "data" in item:
                raise invalid(f"input '{name}': has both data and binary_data_size")
            if offset + size > len(binary):
                raise invalid(
                    f"input '{name}': binary_data_size {size} at offset {offset} runs past the "
                    f"{len(binary)} binary bytes after the JSON header"
                )
            array = tensor_from_bytes(name, datatype, shape, binary[offset : offset + size])
            offset += size
        else:
            if "data" not in item:
                raise invalid(f"input '{name}': neither data nor parameters.binary_data_size")
            array = tensor_from_data(name, datatype, shape, item["data"])
        inputs.append(InputTensor(name, str(datatype), shape, array))
    if offset != len(binary):
        raise invalid(
            f"the body has {len(binary) - offset} binary bytes that no input's binary_data_size claims"
        )
    params = _parameters("request ", doc.get("parameters"))
    outputs: list[RequestedOutput] | None = None
    raw_outputs = doc.get("outputs")
    if raw_outputs is not None:
        if not isinstance(raw_outputs, list):
            raise invalid("outputs: expected a list of requested outputs")
        outputs = []
        for i, item in enumerate(raw_outputs):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise invalid(f"outputs[{i}]: expected an object with a name")
            oparams = _parameters(f"output '{item['name']}': ", item.get("parameters"))
            outputs.append(RequestedOutput(item["name"], bool(oparams.get("binary_data", False))))
    request_id = doc.get("id", "")
    return InferRequest(
        inputs=inputs,
        outputs=outputs,
        id=request_id if isinstance(request_id, str) else str(request_id),
        binary_output=bool(params.get("binary_data_output", False)),
        parameters=params,
    )


def encode_rest_response(
    model: str, version: str, request_id: str, outputs: list[tuple[str, np.ndarray[Any, Any], bool]]
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length (for the HTTP header)."""
    described = []
    blobs: list[bytes] = []
    for name, array, binary in outputs:
        entry: dict[str, Any] = {
            "name": name,
            "datatype": _datatype_of(array),
            "shape": list(array.shape),
        }
        if binary:
            blob = tensor_to_bytes(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif array.dtype.kind == "O":
            entry["data"] = [
                x.decode(errors="replace") if isinstance(x, bytes) else str(x) for x in array.reshape(-1)
            ]
        else:
            entry["data"] = array.reshape(-1).tolist()
        described.append(entry)
    doc: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": described}
    if request_id:
        doc["id"] = request_id
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def _datatype_of(array: np.ndarray[Any, Any]) -> str:
    from motherboard.models.tensors import datatype_of_numpy

    return datatype_of_numpy(array.dtype)


def check_inputs(
    model: str, specs: tuple[TensorSpec, ...], inputs: list[InputTensor], max_batch_size: int
) -> int:
    """Check names, datatypes and shapes against the model; return the batch size (1 when not batching)."""
    by_name = {t.name: t for t in inputs}
    expected = {s.name for s in specs}
    unknown = sorted(set(by_name) - expected)
    if unknown:
        raise invalid(
            f"model '{model}' has no input named {', '.join(repr(u) for u in unknown)} "
            f"(inputs: {', '.join(sorted(expected))})"
        )
    missing = sorted(expected - set(by_name))
    if missing:
        raise invalid(f"model '{model}': input {', '.join(repr(m) for m in missing)} is missing")
    batch = -1
    for spec in specs:
        tensor = by_name[spec.name]
        if tensor.datatype != spec.datatype:
            raise invalid(
                f"model '{model}' input '{spec.name}': expected datatype {spec.datatype}, got {tensor.datatype}"
            )
        if not spec.accepts(tensor.shape):
            raise invalid(
                f"model '{model}' input '{spec.name}': expected shape {list(spec.shape)} (-1: any), "
                f"got {list(tensor.shape)}"
            )
        if max_batch_size > 0:
            rows = tensor.shape[0]
            if batch >= 0 and rows != batch:
                raise invalid(
                    f"model '{model}' input '{spec.name}': batch dimension {rows} differs from the "
                    f"other inputs' {batch}"
                )
            batch = rows
    if max_batch_size > 0:
        if not 1 <= batch <= max_batch_size:
            raise invalid(
                f"model '{model}': batch size {batch} is outside 1..{max_batch_size} (max_batch_size)"
            )
        return batch
    return 1
