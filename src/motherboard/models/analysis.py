"""The graph summary of an imported model: operators, parameters, FLOPs per sample, dynamic dimensions.

FLOPs are an estimate per sample: the batch dimension (the first of every input) taken as 1, so a batch of N
costs N times it, and every other dynamic dimension (a sequence length, an image side) taken as
:data:`ASSUMED_DIM`, which the summary states (a transformer's attention grows with the square of its
sequence, so no single figure holds for every length). Two per multiply-accumulate for Conv, ConvTranspose, MatMul and Gemm, one per output element for
element-wise operators and pooling windows; operators it cannot size are named in ``unsized_operators``
rather than guessed. This is what ``motherboard model inspect`` prints and what the Model status reports.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from motherboard.models.importer import ImportedModel

_ELEMENTWISE = frozenset(
    [
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Relu",
        "LeakyRelu",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "Tanh",
        "Clip",
        "Exp",
        "Log",
        "Sqrt",
        "Pow",
        "Erf",
        "Gelu",
        "Neg",
        "Abs",
        "Max",
        "Min",
        "Sum",
        "Mean",
        "Softplus",
        "Elu",
        "Selu",
        "PRelu",
        "Reciprocal",
        "Where",
        "Equal",
        "Less",
        "Greater",
        "Not",
        "And",
        "Or",
        "Mish",
    ]
)
_NORMALISATION = frozenset({"BatchNormalization", "LayerNormalization", "InstanceNormalization", "Softmax"})
_POOLS = frozenset({"MaxPool", "AveragePool"})
_GLOBAL_POOLS = frozenset({"GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax"})
_FREE = frozenset(
    [
        "Constant",
        "Identity",
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Transpose",
        "Shape",
        "Gather",
        "Slice",
        "Concat",
        "Cast",
        "Split",
        "Expand",
        "Tile",
        "Pad",
        "Resize",
        "ConstantOfShape",
        "Range",
        "Dropout",
    ]
)


@dataclass(frozen=True)
class DynamicDim:
    """One dynamic dimension of an input: its axis and symbolic name (empty when the model has none)."""

    tensor: str
    axis: int
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "axis": self.axis, "name": self.name}


@dataclass(frozen=True)
class GraphSummary:
    """What the model is made of, before any compile is tried."""

    opset: int
    operators: dict[str, int]
    """Operator type (``domain:Type`` outside the default domain) → count, most frequent first."""
    parameters: int
    parameter_bytes: int
    flops_per_sample: int
    dynamic_dims: tuple[DynamicDim, ...]
    unsized_operators: tuple[str, ...]
    assumed_dims: dict[str, int] = field(default_factory=dict)
    """Dynamic dimensions (other than the batch) and the size the FLOPs were estimated at."""

    def to_json(self) -> dict[str, Any]:
        return {
            "opset": self.opset,
            "operators": self.operators,
            "parameters": self.parameters,
            "parameterBytes": self.parameter_bytes,
            "flopsPerSample": self.flops_per_sample,
            "dynamicDims": [d.to_json() for d in self.dynamic_dims],
            "unsizedOperators": list(self.unsized_operators),
            "assumedDims": self.assumed_dims,
        }


def operator_name(node: Any) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}"


ASSUMED_DIM = 32
"""The size FLOPs are estimated at for a dynamic dimension other than the batch."""


def _shapes(proto: Any, sizes: Mapping[str, int]) -> dict[str, tuple[int, ...] | None]:
    """Every tensor's shape with symbolic dimensions taken from ``sizes`` (1 when unnamed or unknown);
    None where shape inference had none."""
    shapes: dict[str, tuple[int, ...] | None] = {}
    graph = proto.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        t = value.type.tensor_type
        if not t.HasField("shape"):
            shapes[value.name] = None
            continue
        shapes[value.name] = tuple(
            d.dim_value if d.HasField("dim_value") else sizes.get(d.dim_param, 1) for d in t.shape.dim
        )
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def _attr(node: Any, name: str) -> Any:
    for a in node.attribute:
        if a.name == name:
            return list(a.ints) if a.ints else a.i
    return None


def _node_flops(node: Any, shapes: Mapping[str, tuple[int, ...] | None]) -> int | None:
    """FLOPs of one node per sample, None when its shapes are unknown."""
    op = node.op_type
    if op in _FREE:
        return 0
    out = shapes.get(node.output[0]) if node.output else None
    if out is None:
        return None
    out_elems = math.prod(out)
    if op in ("Conv", "ConvTranspose"):
        weight = shapes.get(node.input[1])
        if weight is None:
            return None
        if op == "Conv":  # weight (Cout, Cin/group, k...): each output element sums Cin/group × kernel
            return 2 * out_elems * math.prod(weight[1:])
        inp = shapes.get(node.input[0])  # weight (Cin, Cout/group, k...): each input scatters
        return None if inp is None else 2 * math.prod(inp) * math.prod(weight[1:])
    if op in ("MatMul", "Gemm"):
        a = shapes.get(node.input[0])
        if a is None or not a:
            return None
        k = a[0] if op == "Gemm" and _attr(node, "transA") == 1 else a[-1]
        return 2 * out_elems * int(k)
    if op in _ELEMENTWISE:
        return out_elems
    if op in _NORMALISATION:
        return 5 * out_elems
    if op in _POOLS:
        kernel: list[int] = _attr(node, "kernel_shape") or [1]
        return out_elems * math.prod(kernel)
    if op in _GLOBAL_POOLS:
        inp = shapes.get(node.input[0])
        return None if inp is None else math.prod(inp)
    return None


def _parameters(proto: Any) -> tuple[int, int]:
    count = nbytes = 0
    tensors: Iterable[Any] = [
        *proto.graph.initializer,
        *(a.t for n in proto.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"),
    ]
    for t in tensors:
        elems = math.prod(t.dims)
        count += elems
        nbytes += len(t.raw_data) or elems * _ELEMENT_BYTES.get(t.data_type, 4)
    return count, nbytes


_ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}


def summarize(model: ImportedModel) -> GraphSummary:
    proto = model.proto
    operators = Counter(operator_name(n) for n in proto.graph.node)
    batch_symbols = {spec.dim_names[0] for spec in model.inputs if spec.dim_names and spec.shape[0] < 0}
    assumed = {
        name: ASSUMED_DIM
        for spec in model.inputs
        for axis, name in enumerate(spec.dim_names)
        if name and spec.shape[axis] < 0 and name not in batch_symbols
    }
    shapes = _shapes(proto, {**assumed, **dict.fromkeys(batch_symbols, 1)})
    flops = 0
    unsized: set[str] = set()
    for node in proto.graph.node:
        f = _node_flops(node, shapes)
        if f is None:
            unsized.add(operator_name(node))
        else:
            flops += f
    params, param_bytes = _parameters(proto)
    dynamic = tuple(
        DynamicDim(spec.name, axis, spec.dim_names[axis] if spec.dim_names else "")
        for spec in model.inputs
        for axis in spec.dynamic_axes
    )
    return GraphSummary(
        opset=model.opset,
        operators=dict(operators.most_common()),
        parameters=params,
        parameter_bytes=param_bytes,
        flops_per_sample=flops,
        dynamic_dims=dynamic,
        unsized_operators=tuple(sorted(unsized)),
        assumed_dims=assumed,
    )
