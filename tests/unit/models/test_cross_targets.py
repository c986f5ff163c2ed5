"""Artifacts for other machines: aarch64 (executed under qemu-aarch64) and CUDA (compile only, no GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from motherboard.models.backends.tvm import TvmBackend
from motherboard.models.compiler import compile_for_target
from motherboard.models.emulation import run_aarch64
from motherboard.models.errors import ModelError
from motherboard.models.importer import import_onnx
from motherboard.models.runner import load_runner
from motherboard.models.store import FilesystemStore
from motherboard.models.targets import get_target

SHAPES = {"mlp": (4, 64), "cnn": (2, 3, 32, 32), "transformer": (2, 7, 64)}


def _elf_machine(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[18:20], "little")  # e_machine: 62 x86-64, 183 aarch64


@pytest.mark.parametrize("name", list(SHAPES))
def test_an_aarch64_artifact_runs_under_qemu_and_matches_onnxruntime(
    name: str, sample_dir: Path, tmp_path: Path
) -> None:
    path = sample_dir / f"{name}.onnx"
    compiled = TvmBackend().compile(import_onnx(path), get_target("cpu-aarch64"), tmp_path)
    assert _elf_machine(compiled.artifact) == 183
    x = np.random.default_rng(3).standard_normal(SHAPES[name]).astype(np.float32)
    (got,) = run_aarch64(compiled.artifact, [x])
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_cross_targets_get_an_artifact_each_and_the_policy_says_it_could_not_measure(
    sample_dir: Path, store: FilesystemStore
) -> None:
    model = import_onnx(sample_dir / "mlp.onnx")
    result = compile_for_target(model, get_target("cpu-aarch64"), store, name="mlp")
    assert {a.manifest.backend for a in result.artifacts} == {"tvm", "onnxruntime"}
    assert all(a.latency == () for a in result.artifacts)
    assert result.choice is not None and result.choice.manifest.backend == "onnxruntime"
    assert "not measured on cpu-aarch64" in result.choice.reason


def test_a_cuda_artifact_is_built_without_a_gpu_and_refused_on_the_cpu(
    sample_dir: Path, store: FilesystemStore, tmp_path: Path
) -> None:
    model = import_onnx(sample_dir / "cnn.onnx")
    result = compile_for_target(model, get_target("cuda-sm90"), store, name="cnn", backends=("tvm",))
    (artifact,) = result.artifacts
    assert artifact.manifest.target == "cuda-sm90" and artifact.manifest.extra["tvmTarget"]["arch"] == "sm_90"
    # Built on a GPU-less machine, the library carries the kernels' CUDA source for the GPU node to compile.
    library = artifact.stored.path.read_bytes()
    assert _elf_machine(artifact.stored.path) == 62 and b"__global__" in library
    folder = tmp_path / "1"
    store.export(artifact.stored.key, folder, "cnn", 1)
    with pytest.raises(ModelError, match="built for target cuda-sm90, not cpu-x86_64"):
        load_runner(folder)


def test_ascend_targets_are_served_by_onnxruntime_only(sample_dir: Path, store: FilesystemStore) -> None:
    model = import_onnx(sample_dir / "mlp.onnx")
    result = compile_for_target(model, get_target("ascend-910b"), store, name="mlp")
    assert [a.manifest.backend for a in result.artifacts] == ["onnxruntime"]
    assert result.refused == {"tvm": ["TVM has no code generator configured for target ascend-910b"]}
    assert result.artifacts[0].manifest.extra["providers"][0] == "CANNExecutionProvider"
