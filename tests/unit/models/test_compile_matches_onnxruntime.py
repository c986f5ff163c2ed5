"""Every sample compiled for cpu-x86_64 by each backend computes what onnxruntime computes (atol 1e-4),
at several batch sizes and sequence lengths; the same artifact is never built twice."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from motherboard.models.compiler import compile_for_target
from motherboard.models.importer import import_onnx
from motherboard.models.runner import load_runner
from motherboard.models.store import FilesystemStore
from motherboard.models.targets import get_target

SHAPES: dict[str, list[tuple[int, ...]]] = {
    "mlp": [(1, 64), (3, 64), (8, 64)],
    "cnn": [(1, 3, 32, 32), (5, 3, 32, 32)],
    "transformer": [(1, 5, 64), (2, 17, 64)],
}


def _reference(path: Path, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out: np.ndarray[Any, Any] = session.run(None, {"x": x})[0]
    return out


@pytest.mark.parametrize("name", list(SHAPES))
def test_both_backends_match_onnxruntime_on_every_shape(
    name: str, sample_dir: Path, store: FilesystemStore, tmp_path: Path
) -> None:
    path = sample_dir / f"{name}.onnx"
    model = import_onnx(path)
    result = compile_for_target(model, get_target("cpu-x86_64"), store, name=name, measure_latency=False)
    assert {a.manifest.backend for a in result.artifacts} == {"tvm", "onnxruntime"}
    rng = np.random.default_rng(7)
    for artifact in result.artifacts:
        folder = tmp_path / artifact.manifest.backend
        store.export(artifact.stored.key, folder, name, 1)
        runner = load_runner(folder, "cpu-x86_64")
        for shape in SHAPES[name]:
            x = rng.standard_normal(shape).astype(np.float32)
            got = runner.run({"x": x})["y"]
            np.testing.assert_allclose(got, _reference(path, x), atol=1e-4, rtol=1e-4)
        runner.close()


def test_a_second_compile_takes_the_stored_artifacts(sample_dir: Path, store: FilesystemStore) -> None:
    model = import_onnx(sample_dir / "mlp.onnx")
    target = get_target("cpu-x86_64")
    first = compile_for_target(model, target, store, name="mlp")
    second = compile_for_target(model, target, store, name="mlp")
    assert [a.cached for a in first.artifacts] == [False, False]
    assert [a.cached for a in second.artifacts] == [True, True]
    assert [a.stored.key for a in first.artifacts] == [a.stored.key for a in second.artifacts]
    assert [a.latency for a in second.artifacts] == [a.latency for a in first.artifacts]  # measured once
    assert len(store.keys()) == 2


def test_the_policy_serves_the_measured_fastest_and_says_why(
    sample_dir: Path, store: FilesystemStore
) -> None:
    model = import_onnx(sample_dir / "cnn.onnx")
    result = compile_for_target(model, get_target("cpu-x86_64"), store, name="cnn")
    assert result.choice is not None
    # The policy's rule, stated independently: the lowest geometric mean of p50 over the batch sizes.
    p50 = {
        a.manifest.backend: statistics.geometric_mean([x.p50_us for x in a.latency]) for a in result.artifacts
    }
    fastest = min(p50, key=lambda b: p50[b])
    assert result.choice.manifest.backend == fastest
    assert "measured fastest on cpu-x86_64" in result.choice.reason
    assert result.choice.fallback is not None and result.choice.fallback.backend != fastest


def test_the_batch_limit_belongs_to_the_version_folder_not_to_the_stored_artifact(
    sample_dir: Path, tmp_path: Path
) -> None:
    """Two uses of one stored artifact with different limits: each folder says its own (it said 64 twice)."""
    import json

    from typer.testing import CliRunner

    from motherboard.cli import app

    store = tmp_path / "s"
    for limit, folder in ((64, "a"), (8, "b")):
        args = ["model", "compile", str(sample_dir / "mlp.onnx"), "-t", "cpu-x86_64", "-b", "onnxruntime",
                "-o", str(tmp_path / folder), "--store", str(store), "--no-measure", "--max-batch-size", str(limit)]  # fmt: skip
        assert CliRunner().invoke(app, args).exit_code == 0
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["maxBatchSize"] == 64
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["maxBatchSize"] == 8


def test_a_new_choice_replaces_the_whole_version_folder(sample_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from motherboard.cli import app

    out = tmp_path / "repo" / "mlp" / "1"
    for backend in ("tvm", "onnxruntime"):
        args = ["model", "compile", str(sample_dir / "mlp.onnx"), "-t", "cpu-x86_64", "-b", backend,
                "-o", str(out), "--store", str(tmp_path / "s"), "--no-measure"]  # fmt: skip
        assert CliRunner().invoke(app, args).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx"]  # no stale model.so
    assert sorted(p.name for p in out.parent.iterdir()) == ["1"]  # no staging or retired folders left
