"""The repository in-process: Triton's layout, manifests, hot reload, failed loads, ensembles."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from motherboard.models.digests import digest_file
from motherboard.models.manifest import Manifest
from motherboard.models.tensors import TensorSpec
from motherboard.runtime.codec import InputTensor
from motherboard.runtime.config import ConfigError, EnsembleStep
from motherboard.runtime.ensemble import plan
from motherboard.runtime.errors import InferError, Status
from motherboard.runtime.repository import Repository, version_folders
from tests.unit.runtime import onnx_models as om


def x_input(rows: int = 2) -> list[InputTensor]:
    x = np.linspace(-1, 1, rows * 16, dtype=np.float32).reshape(rows, 16)
    return [InputTensor("x", "FP32", x.shape, x)]


def test_version_folders_follow_tritons_rules(tmp_path: Path) -> None:
    for name in ("1", "2", "10", "03", "latest", "0"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a folder")
    assert version_folders(tmp_path) == [1, 2, 10]


def test_a_folder_with_a_manifest_serves_through_the_named_backend(tmp_path: Path) -> None:
    folder = tmp_path / "compiled" / "1"
    om.mlp(folder / "model.onnx", seed=4)
    manifest = Manifest(
        model="compiled",
        version=1,
        model_digest=digest_file(folder / "model.onnx"),
        target="cpu-x86_64",
        backend="onnxruntime",
        backend_version="test",
        artifact="model.onnx",
        artifact_digest=digest_file(folder / "model.onnx"),
        artifact_bytes=(folder / "model.onnx").stat().st_size,
        inputs=(TensorSpec("x", "FP32", (-1, 16)),),
        outputs=(TensorSpec("y", "FP32", (-1, 8)),),
        max_batch_size=4,
    )
    manifest.write(folder)

    async def main() -> tuple[Any, Any]:
        repo = Repository(tmp_path, target="cpu-x86_64")
        await repo.load("compiled")
        version, outputs = await repo.infer("compiled", "", x_input(3))
        config = version.config
        with pytest.raises(InferError, match=r"batch size 5 is outside 1\.\.4"):
            await repo.infer("compiled", "1", x_input(5))
        await repo.close()
        return config, outputs

    config, outputs = asyncio.run(main())
    assert config.max_batch_size == 4  # from the manifest
    want = om.reference(folder / "model.onnx", {"x": x_input(3)[0].array})[0]
    np.testing.assert_allclose(outputs["y"], want, rtol=1e-6)


def test_a_failed_reload_keeps_the_serving_versions_and_reports_why(tmp_path: Path) -> None:
    om.mlp(tmp_path / "m" / "1" / "model.onnx")

    async def main() -> tuple[str, list[dict[str, Any]], list[int]]:
        repo = Repository(tmp_path)
        await repo.load_all()
        (tmp_path / "m" / "2").mkdir()
        (tmp_path / "m" / "2" / "model.onnx").write_bytes(b"garbage")
        with pytest.raises(InferError) as caught:
            await repo.load("m")
        assert caught.value.status is Status.INVALID
        served = sorted(repo.models["m"].versions)
        _, outputs = await repo.infer("m", "", x_input())
        assert outputs["y"].shape == (2, 8)
        index = repo.index()
        await repo.close()
        return caught.value.message, index, served

    message, index, served = asyncio.run(main())
    assert "failed to load 'm'" in message and "versions already serving stay" in message
    assert served == [1]
    assert {"name": "m", "version": "1", "state": "READY", "reason": ""} in index


def test_unknown_models_and_versions_are_not_found(tmp_path: Path) -> None:
    om.mlp(tmp_path / "m" / "1" / "model.onnx")

    async def main() -> list[InferError]:
        repo = Repository(tmp_path)
        await repo.load_all()
        errors = []
        for name, version in (("nope", ""), ("m", "4")):
            try:
                await repo.infer(name, version, x_input())
            except InferError as exc:
                errors.append(exc)
        try:
            await repo.unload("nope")
        except InferError as exc:
            errors.append(exc)
        await repo.close()
        return errors

    errors = asyncio.run(main())
    assert [e.status for e in errors] == [Status.NOT_FOUND] * 3
    assert "model 'm' has no version 4 loaded (loaded: 1)" in errors[1].message


def test_an_ensemble_chains_models_in_process(tmp_path: Path) -> None:
    om.make_repository(tmp_path)

    async def main() -> Any:
        repo = Repository(tmp_path)
        await repo.load_all()
        features = x_input(3)[0].array
        version, outputs = await repo.infer(
            "pipeline", "", [InputTensor("features", "FP32", (3, 16), features)]
        )
        stats = version.stats
        await repo.close()
        return features, outputs, stats

    features, outputs, stats = asyncio.run(main())
    logits = om.reference(tmp_path / "mlp/1/model.onnx", {"x": features})[0]
    np.testing.assert_allclose(
        outputs["probs"], om.reference(tmp_path / "softmax/1/model.onnx", {"logits": logits})[0], rtol=1e-5
    )
    assert (
        stats.success.count == 1 and stats.inference_count == 1
    )  # max_batch_size 0: one inference per request


def test_ensemble_plans_are_checked_against_the_loaded_models() -> None:
    specs = {
        "a": ((TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("y", "FP32", (-1, 4)),)),
        "b": ((TensorSpec("y", "FP32", (-1, 4)),), (TensorSpec("z", "FP32", (-1, 4)),)),
    }
    step_a = EnsembleStep("a", -1, {"x": "in"}, {"y": "mid"})
    step_b = EnsembleStep("b", -1, {"y": "mid"}, {"z": "out"})
    inputs, outputs = plan("e", (step_b, step_a), specs, (), ())
    assert [t.name for t in inputs] == ["in"] and [t.name for t in outputs] == ["out"]
    with pytest.raises(ConfigError, match="model 'c' is not loaded"):
        plan("e", (EnsembleStep("c", -1, {"x": "in"}, {"y": "o"}),), specs, (), ())
    with pytest.raises(ConfigError, match="input_map names 'q', not an input of the model"):
        plan("e", (EnsembleStep("a", -1, {"q": "in"}, {"y": "o"}),), specs, (), ())
    with pytest.raises(ConfigError, match="tensor 'mid' is already produced"):
        plan("e", (step_a, EnsembleStep("b", -1, {"y": "in"}, {"z": "mid"})), specs, (), ())
    cycle = (EnsembleStep("a", -1, {"x": "t2"}, {"y": "t1"}), EnsembleStep("b", -1, {"y": "t1"}, {"z": "t2"}))
    with pytest.raises(ConfigError, match="waits for"):
        plan("e", cycle, specs, (TensorSpec("in", "FP32", (-1, 4)),), (TensorSpec("t2", "FP32", (-1, 4)),))
