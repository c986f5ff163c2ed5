"""Tensor descriptions shared by the compiler, the manifest and the runtime: names, dtypes, shapes.

One table maps the three vocabularies a tensor's element type has here: ONNX's ``TensorProto`` enum, numpy,
and the Open Inference Protocol's datatype strings (``FP32``, ``INT64``, ... as Triton and KServe v2 say).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from motherboard.models.errors import ModelError

# (protocol datatype, numpy dtype name, ONNX TensorProto enum value)
_DTYPES: tuple[tuple[str, str, int], ...] = (
    ("FP32", "float32", 1),
    ("UINT8", "uint8", 2),
    ("INT8", "int8", 3),
    ("UINT16", "uint16", 4),
    ("INT16", "int16", 5),
    ("INT32", "int32", 6),
    ("INT64", "int64", 7),
    ("BYTES", "object", 8),
    ("BOOL", "bool", 9),
    ("FP16", "float16", 10),
    ("FP64", "float64", 11),
    ("UINT32", "uint32", 12),
    ("UINT64", "uint64", 13),
)
PROTOCOL_DATATYPES: tuple[str, ...] = tuple(row[0] for row in _DTYPES)
_BY_DATATYPE = {row[0]: row for row in _DTYPES}
_BY_NUMPY = {row[1]: row for row in _DTYPES}
_BY_ONNX = {row[2]: row for row in _DTYPES}


def datatype_of_numpy(dtype: np.dtype[Any] | type | str) -> str:
    """The protocol datatype (``FP32``) of a numpy dtype; ``ModelError`` when the protocol has none."""
    name = np.dtype(dtype).name
    if name.startswith(("str", "bytes")):
        return "BYTES"
    try:
        return _BY_NUMPY[name][0]
    except KeyError:
        raise ModelError(f"dtype {name} has no Open Inference Protocol datatype") from None


def numpy_of_datatype(datatype: str) -> np.dtype[Any]:
    """The numpy dtype of a protocol datatype; ``ModelError`` naming the known ones otherwise."""
    try:
        return np.dtype(_BY_DATATYPE[datatype][1])
    except KeyError:
        raise ModelError(f"datatype {datatype!r} is not one of {', '.join(PROTOCOL_DATATYPES)}") from None


def datatype_of_onnx(elem_type: int) -> str:
    """The protocol datatype of an ONNX ``TensorProto`` element type."""
    try:
        return _BY_ONNX[elem_type][0]
    except KeyError:
        raise ModelError(
            f"ONNX element type {elem_type} is not supported (only numeric and string)"
        ) from None


def onnx_of_datatype(datatype: str) -> int:
    """The ONNX ``TensorProto`` element type of a protocol datatype."""
    return _BY_DATATYPE[datatype][2] if datatype in _BY_DATATYPE else int(numpy_of_datatype(datatype).num)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: name, protocol datatype and shape, ``-1`` for a dynamic dimension.

    ``dim_names`` keeps the symbolic names of dynamic dimensions (``batch``, ``seq``) where the model has
    them, so the analysis can say which dimensions are dynamic and how they are called.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    dim_names: tuple[str, ...] = ()

    @property
    def dtype(self) -> np.dtype[Any]:
        return numpy_of_datatype(self.datatype)

    @property
    def dynamic_axes(self) -> tuple[int, ...]:
        return tuple(i for i, d in enumerate(self.shape) if d < 0)

    def accepts(self, shape: Sequence[int]) -> bool:
        """Whether a concrete shape fits this spec (same rank, fixed dimensions equal)."""
        return len(shape) == len(self.shape) and all(
            want < 0 or want == got for want, got in zip(self.shape, shape, strict=True)
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}
        if any(self.dim_names):
            out["dimNames"] = list(self.dim_names)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TensorSpec:
        return cls(
            name=str(data["name"]),
            datatype=str(data["datatype"]),
            shape=tuple(int(d) for d in data["shape"]),
            dim_names=tuple(str(n) for n in data.get("dimNames", ())),
        )
