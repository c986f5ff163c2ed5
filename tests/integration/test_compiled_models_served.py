"""Compiler to server: artifacts written by ``motherboard model compile`` (a TVM shared library, an
ONNX Runtime file, PP-OCR's classifier from its PyPI wheel) served by ``motherboard runtime serve`` and
queried with the real tritonclient; an artifact built for another target is refused with the reason."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp

from motherboard.models.samples import write_sample
from motherboard.models.zoo import wheel_model
from tests.integration.test_runtime_server import Server, start_server


def _compile(source: Path, target: str, output: Path, store: Path, *extra: str) -> None:
    cmd = [sys.executable, "-m", "motherboard.cli", "model", "compile", str(source), "-t", target,
           "-o", str(output), "--store", str(store), "--no-measure", *extra]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    return {
        "mlp": write_sample("mlp", folder),
        "cnn": write_sample("cnn", folder),
        "cls": wheel_model("ocr-cls"),
    }


@pytest.fixture(scope="module")
def served(
    sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path]]:
    repo = tmp_path_factory.mktemp("repo")
    store = tmp_path_factory.mktemp("artifacts")
    _compile(sources["mlp"], "cpu-x86_64", repo / "mlp-tvm" / "1", store, "--backend", "tvm")
    _compile(sources["cnn"], "cpu-x86_64", repo / "cnn-ort" / "1", store, "--backend", "onnxruntime")
    _compile(
        sources["cls"],
        "cpu-x86_64",
        repo / "ocr-cls" / "1",
        store,
        "-i",
        "x:FP32:-1,3,48,192",
        "-b",
        "onnxruntime",
    )
    _compile(sources["mlp"], "cpu-aarch64", repo / "mlp-arm" / "1", store, "--backend", "tvm")
    server = start_server(repo, tmp_path_factory.mktemp("log") / "server.log")
    yield server, repo
    assert server.stop() == 0, server.log.read_text()[-3000:]


def _reference(path: Path, name: str, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {name: x}
    )[0]
    return out


@pytest.mark.parametrize(
    ("model", "source", "shape"),
    [("mlp-tvm", "mlp", (3, 64)), ("cnn-ort", "cnn", (2, 3, 32, 32)), ("ocr-cls", "cls", (2, 3, 48, 192))],
)
def test_compiled_artifacts_answer_tritonclient_like_onnxruntime(
    served: tuple[Server, Path], sources: dict[str, Path], model: str, source: str, shape: tuple[int, ...]
) -> None:
    server, _ = served
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    want = _reference(sources[source], "x", x)
    meta = server.http_client().get_model_metadata(model)
    output = meta["outputs"][0]["name"]
    request = thttp.InferInput("x", list(shape), "FP32")
    request.set_data_from_numpy(x, binary_data=True)
    got_http = server.http_client().infer(model, [request]).as_numpy(output)
    grpc_input = tgrpc.InferInput("x", list(shape), "FP32")
    grpc_input.set_data_from_numpy(x)
    got_grpc = server.grpc_client().infer(model, [grpc_input]).as_numpy(output)
    np.testing.assert_allclose(got_http, want, atol=1e-4)
    np.testing.assert_allclose(got_grpc, want, atol=1e-4)


def test_the_server_reports_which_backend_serves_each_model(served: tuple[Server, Path]) -> None:
    server, _ = served
    client = server.http_client()
    assert client.get_model_config("mlp-tvm")["backend"] == "tvm"
    assert client.get_model_config("cnn-ort")["backend"] == "onnxruntime"
    assert client.get_model_metadata("mlp-tvm")["platform"] == "tvm"


def test_an_artifact_for_another_target_is_refused_with_the_reason(served: tuple[Server, Path]) -> None:
    server, _ = served
    assert not server.http_client().is_model_ready("mlp-arm")
    index = server.http_client().get_model_repository_index()
    entry = next(e for e in index if e["name"] == "mlp-arm")
    assert "built for target cpu-aarch64, not cpu-x86_64" in entry.get("reason", ""), entry
