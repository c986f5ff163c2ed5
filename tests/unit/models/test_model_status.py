"""A Model's status as the model layer computes it: versions from file:// and http:// sources, a pinned
digest that does not match, artifacts per target with the serving one marked, and the conditions."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from motherboard.api.v1alpha1.model import Model
from motherboard.cli import app
from motherboard.models.digests import digest_file
from motherboard.models.status import model_status
from motherboard.models.store import FilesystemStore


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a folder, for http:// sources."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined,method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _model(versions: list[dict[str, Any]], **spec: Any) -> Model:
    return Model.model_validate(
        {
            "apiVersion": "motherboard.io/v1alpha1",
            "kind": "Model",
            "metadata": {"name": "mlp", "namespace": "default", "generation": 3},
            "spec": {"versions": versions, "compile": {"targets": ["cpu-aarch64"]}, **spec},
        }
    )


def test_every_version_is_summarised_and_the_latest_compiled_per_target(
    sample_dir: Path, http_root: tuple[str, Path], store: FilesystemStore
) -> None:
    base, root = http_root
    (root / "cnn.onnx").write_bytes((sample_dir / "cnn.onnx").read_bytes())
    model = _model(
        [
            {"version": 1, "source": {"uri": f"file://{sample_dir / 'mlp.onnx'}"}},
            {
                "version": 2,
                "source": {"uri": f"{base}/cnn.onnx"},
                "sha256": digest_file(sample_dir / "cnn.onnx"),
            },
        ]
    )
    status = model_status(model, ["cpu-x86_64"], store)
    assert [v.version for v in status.versions] == [1, 2]
    v1, v2 = status.versions
    assert v1.summary is not None and v1.summary.operators == {"MatMul": 2, "Add": 2, "Relu": 1}
    assert v1.artifacts == []  # only the latest version is compiled
    assert v2.summary is not None and v2.summary.operators["Conv"] == 3
    assert {(a.target, a.backend) for a in v2.artifacts} == {
        (t, b) for t in ("cpu-x86_64", "cpu-aarch64") for b in ("tvm", "onnxruntime")
    }
    serving = {a.target: a.backend for a in v2.artifacts if a.serving}
    assert set(serving) == {"cpu-x86_64", "cpu-aarch64"}
    assert all(a.latency for a in v2.artifacts if a.target == "cpu-x86_64")
    assert all(not a.latency for a in v2.artifacts if a.target == "cpu-aarch64")
    assert status.latest_version == 2 and status.targets == "cpu-x86_64,cpu-aarch64"
    assert [(c.type, c.status) for c in status.conditions] == [
        ("Imported", "True"),
        ("Compiled", "True"),
        ("Ready", "True"),
    ]
    assert status.observed_generation == 3


def test_a_version_whose_digest_does_not_match_is_a_condition_not_a_crash(
    sample_dir: Path, http_root: tuple[str, Path], store: FilesystemStore
) -> None:
    base, _ = http_root
    model = _model(
        [
            {"version": 1, "source": {"uri": f"file://{sample_dir / 'mlp.onnx'}"}, "sha256": "ab" * 32},
            {"version": 2, "source": {"uri": f"{base}/missing.onnx"}},
        ]
    )
    status = model_status(model, ["cpu-x86_64"], store)
    imported = status.conditions[0]
    assert imported.status == "False" and imported.reason == "SourceError"
    assert "version 1: sha256: the source's digest is" in imported.message
    assert "version 2: source.uri" in imported.message and "cannot be read" in imported.message
    assert status.conditions[2].status == "False"
    assert store.keys() == []


def test_the_cli_prints_the_status_the_operator_would_write(sample_dir: Path, tmp_path: Path) -> None:
    manifest = _model([{"version": 1, "source": {"uri": f"file://{sample_dir / 'mlp.onnx'}"}}])
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(manifest.model_dump(mode="json", by_alias=True, exclude_none=True)))
    result = CliRunner().invoke(
        app, ["model", "status", str(path), "-t", "cpu-x86_64", "--store", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)["status"]
    assert printed["latestVersion"] == 1 and printed["targets"] == "cpu-x86_64,cpu-aarch64"
    assert printed["versions"][0]["summary"]["flopsPerSample"] == 19210
