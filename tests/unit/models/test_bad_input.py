"""Bad input to ``motherboard model``: one clear line naming the field or operator, exit 1, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from onnx import helper
from typer.testing import CliRunner

from motherboard.cli import app
from motherboard.models.digests import digest_file

runner = CliRunner()


def _celu_model(folder: Path) -> Path:
    """A valid model whose only operator (Celu) TVM's importer has no conversion for."""
    graph = helper.make_graph(
        [helper.make_node("Celu", ["x"], ["y"])],
        "celu",
        [helper.make_tensor_value_info("x", 1, ["batch", 4])],
        [helper.make_tensor_value_info("y", 1, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "celu.onnx"
    onnx.save(model, str(path))
    return path


def _corrupt(sample: Path, tmp: Path) -> list[str]:
    bad = tmp / "corrupt.onnx"
    bad.write_bytes(b"\x08\x07not a protobuf at all\xff\xfe" * 50)
    return [str(bad)]


def _truncated(sample: Path, tmp: Path) -> list[str]:
    bad = tmp / "truncated.onnx"
    bad.write_bytes(sample.read_bytes()[: sample.stat().st_size // 2])
    return [str(bad)]


def _unsupported_operator(sample: Path, tmp: Path) -> list[str]:
    return [str(_celu_model(tmp)), "--backend", "tvm"]


def _wrong_dtype(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--input", "x:INT64:-1,64"]


def _wrong_shape(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--input", "x:FP32:-1,65"]


def _malformed_override(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--input", "x=[1,64]"]


def _unknown_input(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--input", "image:FP32:-1,64"]


def _digest_mismatch(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--sha256", "0" * 64]


def _missing_source(sample: Path, tmp: Path) -> list[str]:
    return [str(tmp / "nowhere.onnx")]


def _directory_source(sample: Path, tmp: Path) -> list[str]:
    return [str(tmp)]


def _too_large(sample: Path, tmp: Path) -> list[str]:
    big = tmp / "big.onnx"
    big.write_bytes(sample.read_bytes() + b"\0" * (2 << 20))
    return [str(big), "--max-size", "1"]


def _unknown_target(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--target", "tpu-v5"]


def _negative_batch(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--max-batch-size", "-2"]


def _batch_without_batch_dimension(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--input", "x:FP32:4,64", "--max-batch-size", "8"]


def _no_linker(sample: Path, tmp: Path) -> list[str]:
    return [str(sample), "--backend", "tvm"]  # with PATH emptied of ld.lld by the test: fails mid-compile


CASES: dict[str, tuple[Callable[[Path, Path], list[str]], str]] = {
    "corrupt file": (_corrupt, "not an ONNX model"),
    "truncated file": (_truncated, "not an ONNX model"),
    "unsupported operator": (_unsupported_operator, "operator Celu has no TVM conversion"),
    "wrong dtype override": (_wrong_dtype, "inputs[x].dtype: the model's x is FP32, not INT64"),
    "wrong shape override": (_wrong_shape, "inputs[x].shape[1]: the model fixes this dimension at 64"),
    "malformed override": (_malformed_override, "write NAME:DATATYPE:SHAPE"),
    "unknown input": (_unknown_input, "inputs[image]: the model has no such input; it has x"),
    "digest mismatch": (_digest_mismatch, "sha256: the source's digest is sha256:"),
    "missing source": (_missing_source, "no such file"),
    "directory source": (_directory_source, "is a directory"),
    "file over the limit": (_too_large, "over the limit of 1 MiB"),
    "unknown target": (_unknown_target, "target 'tpu-v5' is unknown; known targets: cpu-x86_64"),
    "negative batch limit": (_negative_batch, "--max-batch-size -2: a limit is 0 (no batching) or more"),
    "batch limit without a batch dimension": (
        _batch_without_batch_dimension,
        "maxBatchSize 8: the model has no batch dimension",
    ),
    "no linker on the compile node": (_no_linker, "ld.lld is not installed (Debian package lld)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line_exit_1_and_nothing_stored(
    case: str, sample_dir: Path, tmp_path: Path
) -> None:
    make_args, expected = CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    args = make_args(sample_dir / "mlp.onnx", work)
    store = tmp_path / "artifacts"
    output = tmp_path / "repo" / "mlp" / "1"
    if "--target" not in args:
        args += ["--target", "cpu-x86_64"]
    env = {"PATH": str(work)} if case == "no linker on the compile node" else None
    result = runner.invoke(
        app, ["model", "compile", *args, "--output", str(output), "--store", str(store)], env=env
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in " ".join(result.stderr.split()), result.stderr
    stored = [p for p in (store / "store").glob("*")] if (store / "store").exists() else []
    assert stored == [], "a refused compile must leave nothing in the store"
    assert not output.exists()


def test_inspect_lists_the_operators_a_backend_cannot_compile_before_any_compile(tmp_path: Path) -> None:
    path = _celu_model(tmp_path)
    result = runner.invoke(app, ["model", "inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unsupported"]["cpu-x86_64"] == {
        "tvm": ["operator Celu has no TVM conversion"],
        "onnxruntime": [],
    }
    assert data["unsupported"]["ascend-910b"]["tvm"] == [
        "TVM has no code generator configured for target ascend-910b"
    ]
    assert data["summary"]["operators"] == {"Celu": 1}
    assert data["digest"] == digest_file(path)


def test_a_model_one_backend_refuses_is_served_by_the_other(tmp_path: Path) -> None:
    path = _celu_model(tmp_path)
    output = tmp_path / "repo" / "celu" / "1"
    result = runner.invoke(
        app,
        [
            "model",
            "compile",
            str(path),
            "-t",
            "cpu-x86_64",
            "-o",
            str(output),
            "--store",
            str(tmp_path / "s"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "tvm: refused: operator Celu has no TVM conversion" in result.stdout
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["backend"] == "onnxruntime"
    assert manifest["extra"]["refused"] == {"tvm": ["operator Celu has no TVM conversion"]}
