"""Small ONNX models built with ``onnx.helper`` for the runtime's tests and benchmark, and a repository maker.

- ``mlp``: x FP32 [batch, 16] → y FP32 [batch, 8] (two dense layers), dynamic batch;
- ``cnn``: x FP32 [batch, 3, size, size] (16 by default) → logits FP32 [batch, 4] (conv, relu, global pool, dense);
- ``softmax``: logits FP32 [batch, 8] → probs FP32 [batch, 8] (the second step of the ensemble test);
- ``fixed``: a FP32 [2, 3], b INT64 [2, 3] → sum FP32 [2, 3], no batch dimension (max_batch_size 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _init(name: str, array: np.ndarray[Any, Any]) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def mlp(path: Path, seed: int = 0, width: int = 16, hidden: int = 32, out: int = 8) -> Path:
    rng = np.random.default_rng(seed)
    inits = [
        _init("w1", rng.standard_normal((width, hidden)).astype(np.float32)),
        _init("b1", rng.standard_normal(hidden).astype(np.float32)),
        _init("w2", rng.standard_normal((hidden, out)).astype(np.float32)),
        _init("b2", rng.standard_normal(out).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
        helper.make_node("Add", ["h3", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", out])],
        inits,
    )
    return _save(graph, path)


def cnn(path: Path, seed: int = 0, size: int = 16, channels: int = 8) -> Path:
    rng = np.random.default_rng(seed)
    inits = [
        _init("k", (rng.standard_normal((channels, 3, 3, 3)) * 0.3).astype(np.float32)),
        _init("kb", rng.standard_normal(channels).astype(np.float32)),
        _init("shape", np.array([-1, channels], dtype=np.int64)),
        _init("w", rng.standard_normal((channels, 4)).astype(np.float32)),
        _init("b", rng.standard_normal(4).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "k", "kb"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Reshape", ["g", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        inits,
    )
    return _save(graph, path)


def softmax(path: Path, width: int = 8) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["logits"], ["probs"], axis=1)],
        "softmax",
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", width])],
    )
    return _save(graph, path)


def fixed(path: Path) -> Path:
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["a", "bf"], ["sum"]),
        ],
        "fixed",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("b", TensorProto.INT64, [2, 3]),
        ],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 3])],
    )
    return _save(graph, path)


def write_config(model_dir: Path, config: dict[str, Any]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps(config))


def make_repository(root: Path) -> Path:
    """The test repository: mlp (v1), cnn (v1, batching with delay), softmax, fixed, and ensemble ``pipeline``."""
    mlp(root / "mlp" / "1" / "model.onnx", seed=1)
    cnn(root / "cnn" / "1" / "model.onnx")
    write_config(
        root / "cnn",
        {
            "max_batch_size": 16,
            "dynamic_batching": {"max_queue_delay_microseconds": 2000},
            "instance_group": [{"count": 1}],
        },
    )
    softmax(root / "softmax" / "1" / "model.onnx")
    fixed(root / "fixed" / "1" / "model.onnx")
    write_config(
        root / "pipeline",
        {
            "platform": "ensemble",
            "ensemble_scheduling": {
                "step": [
                    {
                        "model_name": "mlp",
                        "model_version": -1,
                        "input_map": {"x": "features"},
                        "output_map": {"y": "logits"},
                    },
                    {
                        "model_name": "softmax",
                        "model_version": -1,
                        "input_map": {"logits": "logits"},
                        "output_map": {"probs": "probs"},
                    },
                ]
            },
        },
    )
    return root


def reference(path: Path, feeds: dict[str, np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
    """What onnxruntime in-process says (the tests' oracle)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.asarray(r) for r in session.run(None, feeds)]
