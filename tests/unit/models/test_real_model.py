"""A real model shipped in a PyPI wheel (PP-OCR's direction classifier): compiled for x86-64 and aarch64,
both match onnxruntime on the original file, at several batch sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from motherboard.models.analysis import summarize
from motherboard.models.backends.tvm import TvmBackend
from motherboard.models.compiler import compile_for_target
from motherboard.models.emulation import run_aarch64
from motherboard.models.importer import import_onnx
from motherboard.models.runner import load_runner
from motherboard.models.store import FilesystemStore
from motherboard.models.targets import get_target
from motherboard.models.zoo import MODELS, wheel_model


@pytest.fixture(scope="module")
def cls_path() -> Path:
    return wheel_model("ocr-cls")


def _reference(path: Path, x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]  # type: ignore[no-any-return]


def test_the_classifier_is_summarised_as_a_mobilenet(cls_path: Path) -> None:
    model = import_onnx(cls_path, inputs=MODELS["ocr-cls"].inputs)
    summary = summarize(model)
    assert summary.operators["Conv"] == 53
    assert 100_000 < summary.parameters < 200_000  # the 0.56 MB mobile classifier
    assert 10e6 < summary.flops_per_sample < 200e6
    assert [(d.tensor, d.axis) for d in summary.dynamic_dims] == [("x", 0)]


def test_the_classifier_compiled_for_x86_matches_onnxruntime(
    cls_path: Path, store: FilesystemStore, tmp_path: Path
) -> None:
    model = import_onnx(cls_path, inputs=MODELS["ocr-cls"].inputs)
    result = compile_for_target(model, get_target("cpu-x86_64"), store, name="cls", measure_latency=False)
    rng = np.random.default_rng(11)
    for artifact in result.artifacts:
        folder = tmp_path / artifact.manifest.backend
        store.export(artifact.stored.key, folder, "cls", 1)
        runner = load_runner(folder)
        for batch in (1, 4):
            x = rng.random((batch, 3, 48, 192), dtype=np.float32)
            np.testing.assert_allclose(
                runner.run({"x": x})[runner.outputs[0].name], _reference(cls_path, x), atol=1e-4
            )


def test_the_classifier_compiled_for_aarch64_matches_onnxruntime_under_qemu(
    cls_path: Path, tmp_path: Path
) -> None:
    compiled = TvmBackend().compile(
        import_onnx(cls_path, inputs=MODELS["ocr-cls"].inputs), get_target("cpu-aarch64"), tmp_path
    )
    x = np.random.default_rng(5).random((2, 3, 48, 192), dtype=np.float32)
    (got,) = run_aarch64(compiled.artifact, [x])
    np.testing.assert_allclose(got, _reference(cls_path, x), atol=1e-4)
