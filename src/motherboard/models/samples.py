"""Small ONNX models the project builds itself (no model hub): for tests, benchmarks and the demo.

- ``mlp``: x[batch, 64] → 128 → 10, a dynamic batch;
- ``cnn``: x[batch, 3, 32, 32] → three 3×3 convolutions with ReLU, max-pool, global average pool, a
  linear layer → 10 classes;
- ``transformer``: one encoder block (self-attention with 4 heads, layer norm, a ReLU feed-forward) over
  x[batch, seq, 64] with a dynamic batch and a dynamic sequence length.

Weights come from a seeded generator, so every build of a sample has the same bytes and the same digest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17


def _helpers() -> tuple[Any, Any, Any]:
    import onnx
    from onnx import helper, numpy_helper

    return onnx, helper, numpy_helper


def _weights(rng: np.random.Generator, *shape: int) -> np.ndarray[Any, Any]:
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    weights: np.ndarray[Any, Any] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    return weights


def _model(name: str, nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: dict[str, Any]) -> Any:
    onnx, helper, numpy_helper = _helpers()
    graph = helper.make_graph(
        nodes, name, inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()]
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="motherboard"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def mlp(seed: int = 0) -> Any:
    _, helper, _ = _helpers()
    rng = np.random.default_rng(seed)
    f = 1  # TensorProto.FLOAT
    inits = {
        "w1": _weights(rng, 64, 128),
        "b1": np.zeros(128, np.float32) + 0.01,
        "w2": _weights(rng, 128, 10),
        "b2": np.zeros(10, np.float32),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
        helper.make_node("Add", ["h3", "b2"], ["y"]),
    ]
    return _model(
        "mlp",
        nodes,
        [helper.make_tensor_value_info("x", f, ["batch", 64])],
        [helper.make_tensor_value_info("y", f, ["batch", 10])],
        inits,
    )


def cnn(seed: int = 0) -> Any:
    _, helper, _ = _helpers()
    rng = np.random.default_rng(seed)
    f = 1
    inits = {
        "c1": _weights(rng, 16, 3, 3, 3),
        "c1b": np.zeros(16, np.float32),
        "c2": _weights(rng, 32, 16, 3, 3),
        "c2b": np.zeros(32, np.float32),
        "c3": _weights(rng, 32, 32, 3, 3),
        "c3b": np.zeros(32, np.float32),
        "fc": _weights(rng, 32, 10),
        "fcb": np.zeros(10, np.float32),
        "flat": np.array([-1, 32], np.int64),
    }
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", ["x", "c1", "c1b"], ["a1"], **conv),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2", "c2b"], ["a2"], **conv),
        helper.make_node("Relu", ["a2"], ["r2"]),
        helper.make_node("Conv", ["r2", "c3", "c3b"], ["a3"], **conv),
        helper.make_node("Relu", ["a3"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"]),
        helper.make_node("Reshape", ["g", "flat"], ["v"]),
        helper.make_node("MatMul", ["v", "fc"], ["l"]),
        helper.make_node("Add", ["l", "fcb"], ["y"]),
    ]
    return _model(
        "cnn",
        nodes,
        [helper.make_tensor_value_info("x", f, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("y", f, ["batch", 10])],
        inits,
    )


def transformer(seed: int = 0, d: int = 64, heads: int = 4) -> Any:
    _, helper, _ = _helpers()
    rng = np.random.default_rng(seed)
    f = 1
    hd = d // heads
    inits: dict[str, Any] = {
        "wq": _weights(rng, d, d),
        "wk": _weights(rng, d, d),
        "wv": _weights(rng, d, d),
        "wo": _weights(rng, d, d),
        "w1": _weights(rng, d, 4 * d),
        "w2": _weights(rng, 4 * d, d),
        "g1": np.ones(d, np.float32),
        "b1": np.zeros(d, np.float32),
        "g2": np.ones(d, np.float32),
        "b2": np.zeros(d, np.float32),
        "split_heads": np.array([0, 0, heads, hd], np.int64),
        "merge_heads": np.array([0, 0, d], np.int64),
        "scale": np.array(1.0 / np.sqrt(hd), np.float32),
    }
    n = helper.make_node
    nodes = [
        n("LayerNormalization", ["x", "g1", "b1"], ["ln1"], axis=-1, epsilon=1e-5),
        *[n("MatMul", ["ln1", w], [p]) for w, p in (("wq", "q0"), ("wk", "k0"), ("wv", "v0"))],
        *[n("Reshape", [p, "split_heads"], [p + "h"]) for p in ("q0", "k0", "v0")],
        n("Transpose", ["q0h"], ["q"], perm=[0, 2, 1, 3]),
        n("Transpose", ["k0h"], ["kt"], perm=[0, 2, 3, 1]),
        n("Transpose", ["v0h"], ["v"], perm=[0, 2, 1, 3]),
        n("MatMul", ["q", "kt"], ["s0"]),
        n("Mul", ["s0", "scale"], ["s1"]),
        n("Softmax", ["s1"], ["att"], axis=-1),
        n("MatMul", ["att", "v"], ["o0"]),
        n("Transpose", ["o0"], ["o1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["o1", "merge_heads"], ["o2"]),
        n("MatMul", ["o2", "wo"], ["o3"]),
        n("Add", ["x", "o3"], ["res1"]),
        n("LayerNormalization", ["res1", "g2", "b2"], ["ln2"], axis=-1, epsilon=1e-5),
        n("MatMul", ["ln2", "w1"], ["f0"]),
        n("Gelu", ["f0"], ["f1"]) if OPSET >= 20 else n("Relu", ["f0"], ["f1"]),
        n("MatMul", ["f1", "w2"], ["f2"]),
        n("Add", ["res1", "f2"], ["y"]),
    ]
    return _model(
        "transformer",
        nodes,
        [helper.make_tensor_value_info("x", f, ["batch", "seq", d])],
        [helper.make_tensor_value_info("y", f, ["batch", "seq", d])],
        inits,
    )


SAMPLES: dict[str, Callable[[], Any]] = {"mlp": mlp, "cnn": cnn, "transformer": transformer}


def write_sample(name: str, folder: Path) -> Path:
    """Build the sample called ``name`` into ``folder/<name>.onnx`` and return the path."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    onnx.save(SAMPLES[name](), str(path))
    return path
