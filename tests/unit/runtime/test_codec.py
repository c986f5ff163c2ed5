"""The REST infer body parser: exact decoding of what tritonclient sends, and fuzzed bad input.

Whatever the bytes, the parser either returns a request whose tensors have the declared shapes and byte
counts, or raises ``InferError`` with status 400 and a message; no other exception escapes it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motherboard.models.tensors import TensorSpec
from motherboard.runtime.codec import (
    check_inputs,
    encode_rest_response,
    parse_rest_request,
    tensor_from_bytes,
    tensor_to_bytes,
)
from motherboard.runtime.errors import InferError, Status

DTYPES = {
    "FP32": np.float32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "FP16": np.float16,
    "BOOL": np.bool_,
    "INT32": np.int32,
}


def binary_body(
    arrays: dict[str, np.ndarray[Any, Any]], extra: dict[str, Any] | None = None
) -> tuple[bytes, int]:
    inputs = [
        {"name": n, "shape": list(a.shape), "datatype": dt, "parameters": {"binary_data_size": a.nbytes}}
        for n, a in arrays.items()
        for dt in [next(k for k, v in DTYPES.items() if np.dtype(v) == a.dtype)]
    ]
    header = json.dumps({"inputs": inputs, **(extra or {})}).encode()
    return header + b"".join(a.tobytes() for a in arrays.values()), len(header)


def test_binary_inputs_decode_to_views_over_the_body_in_order() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.arange(6, dtype=np.int64).reshape(2, 3)
    body, length = binary_body({"a": a, "b": b}, {"id": "r1", "parameters": {"binary_data_output": True}})
    request = parse_rest_request(body, length)
    assert [t.name for t in request.inputs] == ["a", "b"]
    np.testing.assert_array_equal(request.inputs[0].array, a)
    np.testing.assert_array_equal(request.inputs[1].array, b)
    assert request.inputs[0].array.base is not None  # a view, not a copy
    assert request.id == "r1" and request.binary_output and request.outputs is None


def test_json_inputs_and_requested_outputs() -> None:
    doc = {
        "inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]}],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
    }
    request = parse_rest_request(json.dumps(doc).encode(), None)
    np.testing.assert_array_equal(request.inputs[0].array, np.array([[1, 2], [3, 4]], dtype=np.int32))
    assert [(o.name, o.binary) for o in request.outputs or []] == [("y", True), ("z", False)]


def test_bytes_tensors_round_trip_length_prefixed() -> None:
    items = np.array([b"ab", b"", b"xyz"], dtype=object)
    raw = tensor_to_bytes(items)
    assert raw == b"\x02\x00\x00\x00ab\x00\x00\x00\x00\x03\x00\x00\x00xyz"
    assert list(tensor_from_bytes("s", "BYTES", (3,), memoryview(raw))) == [b"ab", b"", b"xyz"]
    with pytest.raises(InferError, match="claims 9 bytes past the end"):
        tensor_from_bytes("s", "BYTES", (1,), memoryview(b"\x09\x00\x00\x00ab"))


def test_response_binary_and_json_outputs() -> None:
    y = np.arange(4, dtype=np.float32).reshape(2, 2)
    body, length = encode_rest_response("m", "3", "id7", [("y", y, True), ("z", y, False)])
    assert length is not None
    head = json.loads(body[:length])
    assert head["model_version"] == "3" and head["id"] == "id7"
    assert head["outputs"][0] == {
        "name": "y",
        "datatype": "FP32",
        "shape": [2, 2],
        "parameters": {"binary_data_size": 16},
    }
    assert head["outputs"][1]["data"] == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_array_equal(np.frombuffer(body[length:], dtype=np.float32).reshape(2, 2), y)
    plain, none = encode_rest_response("m", "1", "", [("z", y, False)])
    assert none is None and "id" not in json.loads(plain)


@pytest.mark.parametrize(
    ("doc", "tail", "length", "message"),
    [
        (b"[1, 2]", b"", None, "request JSON must be an object"),
        (b'{"inputs": []}', b"", None, "inputs: expected a non-empty list"),
        (b'{"inputs": [{"name": 3}]}', b"", None, "inputs[0].name: expected a string"),
        (
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]}',
            b"",
            None,
            "datatype 'FP99' is not one of",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]}',
            b"",
            None,
            "non-negative integers",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": ["a", "b"]}]}',
            b"",
            None,
            "not a list of FP32 values",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32"}]}',
            b"",
            None,
            "neither data nor parameters.binary_data_size",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}, {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}',
            b"",
            None,
            "given twice",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": -4}}]}',
            b"\0" * 4,
            86,
            "binary_data_size must be a non-negative integer",
        ),
    ],
)
def test_bad_bodies_are_400_naming_the_problem(
    doc: bytes, tail: bytes, length: int | None, message: str
) -> None:
    body = doc + tail
    with pytest.raises(InferError, match=re.escape(message)) as caught:
        parse_rest_request(body, len(doc) if length is not None else None)
    assert caught.value.status is Status.INVALID


def test_check_inputs_against_the_model() -> None:
    specs = (TensorSpec("x", "FP32", (-1, 4)), TensorSpec("m", "INT64", (-1, 4)))
    body, length = binary_body({"x": np.zeros((3, 4), np.float32), "m": np.zeros((2, 4), np.int64)})
    request = parse_rest_request(body, length)
    with pytest.raises(InferError, match="batch dimension 2 differs from the other inputs' 3"):
        check_inputs("m1", specs, request.inputs, 8)
    body, length = binary_body({"x": np.zeros((3, 4), np.float32), "m": np.zeros((3, 4), np.int64)})
    assert check_inputs("m1", specs, parse_rest_request(body, length).inputs, 8) == 3
    with pytest.raises(InferError, match=r"batch size 3 is outside 1\.\.2"):
        check_inputs("m1", specs, parse_rest_request(body, length).inputs, 2)
    body, length = binary_body({"x": np.zeros((3, 4), np.float32)})
    with pytest.raises(InferError, match="input 'm' is missing"):
        check_inputs("m1", specs, parse_rest_request(body, length).inputs, 8)


# --- fuzzing -----------------------------------------------------------------------------------------


def _parse_or_400(body: bytes, length: int | None) -> Any:
    try:
        return parse_rest_request(body, length)
    except InferError as exc:
        assert exc.status is Status.INVALID and exc.message
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=300), length=st.one_of(st.none(), st.integers(-5, 400)))
def test_fuzz_arbitrary_bytes_never_escape_as_anything_but_400(body: bytes, length: int | None) -> None:
    _parse_or_400(body, length)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
input_like = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=3), json_values)},
    optional={
        "shape": st.one_of(st.lists(st.integers(-2, 5), max_size=4), json_values),
        "datatype": st.one_of(st.sampled_from([*DTYPES, "BYTES", "BF16", "fp32"]), json_values),
        "data": json_values,
        "parameters": st.one_of(
            st.fixed_dictionaries({"binary_data_size": st.integers(-3, 80)}), json_values
        ),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    inputs=st.lists(input_like, min_size=0, max_size=3),
    tail=st.binary(max_size=100),
    outputs=json_values,
    use_header=st.booleans(),
)
def test_fuzz_structured_requests_with_lying_headers(
    inputs: list[dict[str, Any]], tail: bytes, outputs: Any, use_header: bool
) -> None:
    header = json.dumps({"inputs": inputs, "outputs": outputs}).encode()
    request = _parse_or_400(header + tail, len(header) if use_header else None)
    if request is None:
        return
    claimed = 0
    for tensor in request.inputs:
        count = int(np.prod(tensor.shape))
        assert tensor.array.shape == tensor.shape
        assert tensor.array.size == count
        if tensor.array.dtype.kind != "O":
            claimed += tensor.array.nbytes if use_header else 0
    if use_header:
        assert claimed <= len(tail)  # every byte read was sent, none invented


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(0, 4),
    cols=st.integers(0, 4),
    datatype=st.sampled_from(list(DTYPES)),
    delta=st.integers(-8, 8),
)
def test_fuzz_byte_counts_must_match_shape_and_dtype_exactly(
    rows: int, cols: int, datatype: str, delta: int
) -> None:
    dtype = np.dtype(DTYPES[datatype])
    expected = rows * cols * dtype.itemsize
    size = max(expected + delta, 0)
    doc = {
        "inputs": [
            {
                "name": "x",
                "shape": [rows, cols],
                "datatype": datatype,
                "parameters": {"binary_data_size": size},
            }
        ]
    }
    header = json.dumps(doc).encode()
    body = header + b"\x01" * size
    if size == expected:
        request = parse_rest_request(body, len(header))
        assert request.inputs[0].array.shape == (rows, cols) and request.inputs[0].array.dtype == dtype
    else:
        with pytest.raises(InferError, match=rf"needs {expected} bytes, got {size}"):
            parse_rest_request(body, len(header))
