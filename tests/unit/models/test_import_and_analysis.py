"""Import and analysis: interfaces, overrides, the graph summary's figures worked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from motherboard.models.analysis import summarize
from motherboard.models.importer import import_onnx
from motherboard.models.tensors import TensorSpec


def test_mlp_summary_matches_a_hand_count(sample_dir: Path) -> None:
    model = import_onnx(sample_dir / "mlp.onnx")
    summary = summarize(model)
    assert model.inputs == (TensorSpec("x", "FP32", (-1, 64), ("batch", "")),)
    assert model.outputs[0].shape == (-1, 10)
    assert summary.operators == {"MatMul": 2, "Add": 2, "Relu": 1}
    assert summary.parameters == 64 * 128 + 128 + 128 * 10 + 10
    assert summary.parameter_bytes == 4 * summary.parameters
    # 2·64·128 (MatMul) + 128 (Add) + 128 (Relu) + 2·128·10 (MatMul) + 10 (Add)
    assert summary.flops_per_sample == 16384 + 128 + 128 + 2560 + 10
    assert [(d.tensor, d.axis, d.name) for d in summary.dynamic_dims] == [("x", 0, "batch")]
    assert summary.unsized_operators == ()


def test_cnn_flops_count_every_convolution(sample_dir: Path) -> None:
    summary = summarize(import_onnx(sample_dir / "cnn.onnx"))
    conv = 2 * (16 * 32 * 32 * 3 * 9 + 32 * 16 * 16 * 16 * 9 + 32 * 16 * 16 * 32 * 9)
    elementwise = 16 * 32 * 32 + 32 * 16 * 16 * 2  # the three ReLUs
    pools = 16 * 16 * 16 * 4 + 32 * 16 * 16  # MaxPool 2×2, global average pool
    head = 2 * 32 * 10 + 10
    assert summary.flops_per_sample == conv + elementwise + pools + head


def test_transformer_has_dynamic_batch_and_sequence(sample_dir: Path) -> None:
    summary = summarize(import_onnx(sample_dir / "transformer.onnx"))
    assert [(d.axis, d.name) for d in summary.dynamic_dims] == [(0, "batch"), (1, "seq")]
    # FLOPs are stated at a sequence length, not at 1 (attention grows with its square).
    assert summary.assumed_dims == {"seq": 32}
    seq, d = 32, 64
    projections = 4 * 2 * seq * d * d  # q, k, v, output
    attention = 2 * 2 * seq * seq * d  # scores and weighted values, over all heads
    feed_forward = 2 * 2 * seq * d * 4 * d
    assert (
        projections + attention + feed_forward
        < summary.flops_per_sample
        < 1.2 * (projections + attention + feed_forward)
    )
    assert summary.operators["MatMul"] == 8
    assert summary.operators["LayerNormalization"] == 2


def test_an_override_fixes_a_dynamic_dimension_and_changes_the_identity(sample_dir: Path) -> None:
    plain = import_onnx(sample_dir / "transformer.onnx")
    fixed = import_onnx(sample_dir / "transformer.onnx", inputs=[TensorSpec("x", "FP32", (-1, 16, 64))])
    assert fixed.inputs[0].shape == (-1, 16, 64)
    assert fixed.source_digest == plain.source_digest
    assert fixed.digest != plain.digest
    assert fixed.outputs[0].shape[1] == 16  # shape inference carried the fixed sequence length through


def test_the_same_file_always_has_the_same_digest(sample_dir: Path, tmp_path: Path) -> None:
    from motherboard.models.samples import write_sample

    again = write_sample("cnn", tmp_path)
    assert import_onnx(again).digest == import_onnx(sample_dir / "cnn.onnx").digest


@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [("x", (-1, 3, 48, 192), "rank 4 does not match"), ("x", (-1, 32), "fixes this dimension at 64")],
)
def test_an_override_that_contradicts_the_model_is_refused(
    sample_dir: Path, name: str, shape: tuple[int, ...], expected: str
) -> None:
    from motherboard.models.errors import ModelError

    with pytest.raises(ModelError, match=expected):
        import_onnx(sample_dir / "mlp.onnx", inputs=[TensorSpec(name, "FP32", shape)])


def test_an_output_override_is_checked_against_what_the_graph_produces(sample_dir: Path) -> None:
    from motherboard.models.errors import ModelError

    with pytest.raises(ModelError, match=r"outputs\[y\].shape\[1\]: the model fixes this dimension at 10"):
        import_onnx(sample_dir / "mlp.onnx", outputs=[TensorSpec("y", "FP32", (-1, 7))])
    with pytest.raises(ModelError, match=r"outputs\[y\].shape\[0\]: follows the input dimension 'batch'"):
        import_onnx(sample_dir / "mlp.onnx", outputs=[TensorSpec("y", "FP32", (3, 10))])
    fixed = import_onnx(
        sample_dir / "mlp.onnx",
        inputs=[TensorSpec("x", "FP32", (3, 64))],
        outputs=[TensorSpec("y", "FP32", (3, 10))],
    )
    assert fixed.outputs[0].shape == (3, 10)


def test_an_override_that_changes_nothing_keeps_the_models_identity(sample_dir: Path) -> None:
    plain = import_onnx(sample_dir / "mlp.onnx")
    same = import_onnx(sample_dir / "mlp.onnx", inputs=[TensorSpec("x", "FP32", (-1, 64))])
    assert same.digest == plain.digest  # nothing to compile or tune anew
