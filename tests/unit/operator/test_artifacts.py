"""The artifact endpoint with a compile job and a replica on either side, over real HTTP: a source goes
out, artifacts come in with the job's token only, a replica fetches the one for its target (verified by
digest, from its node cache when the endpoint is down) and never one built for another target."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from motherboard.models.compilejob import CompileRequest, run
from motherboard.models.digests import digest_file
from motherboard.models.errors import ModelError
from motherboard.models.fetch import ServingRequest, detect_target, fetch
from motherboard.models.importer import import_onnx
from motherboard.models.manifest import Manifest
from motherboard.models.runner import load_runner
from motherboard.models.samples import write_sample
from motherboard.operator.artifacts import ArtifactService
from motherboard.operator.modelctl import ModelController, ServingOptions
from motherboard.operator.observed import ObservedPod
from motherboard.operator.serving import Candidate
from motherboard.operator.store import Store


class Endpoint:
    """An ArtifactService on its own event loop thread, as in the operator."""

    def __init__(self, root: Path) -> None:
        self.service = ArtifactService(root)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        port = asyncio.run_coroutine_threadsafe(self.service.start("127.0.0.1", 0), self.loop).result(10)
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    ep = Endpoint(tmp_path / "operator")
    yield ep
    ep.stop()


def request_for(ep: Endpoint, source: Path, target: str, token: str | None = None) -> CompileRequest:
    data = source.read_bytes()
    sha = ep.service.keep_source(data)
    digest = import_onnx(source).digest
    return CompileRequest(
        model="mlp", version=1, source=f"{ep.url}/v1/sources/{sha}", source_sha256=sha, digest=digest,
        target=target, endpoint=ep.url, token=token or ep.service.token(digest, target),
        backends=("onnxruntime",), measure=False,
    )  # fmt: skip


def test_compile_upload_fetch_and_serve_the_artifact_for_this_target(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    source = write_sample("mlp", tmp_path)
    request = request_for(endpoint, source, "cpu-x86_64")
    arrived: list[tuple[str, str]] = []
    endpoint.service.listeners.append(lambda d, t: arrived.append((d, t)))
    keys = run(request, log=lambda _: None)
    assert arrived == [(request.digest, "cpu-x86_64")]
    [entry] = endpoint.service.entries(request.digest, "cpu-x86_64")
    assert entry.key.id == keys[0]
    plan = {"cpu-x86_64": [Candidate(entry.key.id, entry.manifest.artifact_digest, "onnxruntime").to_json()]}
    serving = ServingRequest("mlp", 1, endpoint.url, plan, max_batch_size=8, max_queue_delay_us=500)
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    done = fetch(serving, repo, cache, detect_target({}))
    assert (done.target, done.from_cache, done.digest) == (
        "cpu-x86_64",
        False,
        entry.manifest.artifact_digest,
    )
    assert json.loads((repo / "mlp" / "config.json").read_text())["dynamic_batching"] == {
        "max_queue_delay_microseconds": 500
    }
    runner = load_runner(repo / "mlp" / "1", None)
    x = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    want = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = next(iter(runner.run({"x": x}).values()))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    runner.close()
    # Cut off from the endpoint: a restart serves from the node's cache.
    endpoint.stop()
    again = fetch(serving, tmp_path / "repo2", cache, "cpu-x86_64", timeout=2)
    assert again.from_cache
    endpoint.loop = asyncio.new_event_loop()  # the fixture's stop() runs again on a fresh, idle loop
    endpoint.thread = threading.Thread(target=endpoint.loop.run_forever, daemon=True)
    endpoint.thread.start()


def test_uploads_need_the_token_for_that_model_and_target(endpoint: Endpoint, tmp_path: Path) -> None:
    source = write_sample("mlp", tmp_path)
    other = endpoint.service.token("sha256:" + "0" * 64, "cpu-x86_64")
    with pytest.raises(ModelError, match="403"):
        run(request_for(endpoint, source, "cpu-x86_64", token=other), log=lambda _: None)
    assert endpoint.service.entries(import_onnx(source).digest, "cpu-x86_64") == []


def test_a_replica_never_loads_another_targets_artifact(endpoint: Endpoint, tmp_path: Path) -> None:
    source = write_sample("mlp", tmp_path)
    arm = request_for(endpoint, source, "cpu-aarch64")
    run(arm, log=lambda _: None)
    [entry] = endpoint.service.entries(arm.digest, "cpu-aarch64")
    cand = Candidate(entry.key.id, entry.manifest.artifact_digest, "onnxruntime").to_json()
    with pytest.raises(ModelError, match="has no artifact for target cpu-x86_64"):
        fetch(
            ServingRequest("mlp", 1, endpoint.url, {"cpu-aarch64": [cand]}),
            tmp_path / "r",
            tmp_path / "c",
            "cpu-x86_64",
        )
    # A plan that lists the aarch64 artifact under the x86-64 target (a bug, a tampered plan) is refused too.
    with pytest.raises(ModelError, match="for cpu-aarch64, the plan says"):
        fetch(
            ServingRequest("mlp", 1, endpoint.url, {"cpu-x86_64": [cand]}),
            tmp_path / "r",
            tmp_path / "c",
            "cpu-x86_64",
        )


def test_a_missing_first_choice_falls_back_to_the_second(endpoint: Endpoint, tmp_path: Path) -> None:
    source = write_sample("mlp", tmp_path)
    run(request_for(endpoint, source, "cpu-x86_64"), log=lambda _: None)
    [entry] = endpoint.service.entries(import_onnx(source).digest, "cpu-x86_64")
    gone = {"key": "f" * 40, "digest": "sha256:" + "1" * 64, "backend": "tvm"}
    good = Candidate(entry.key.id, entry.manifest.artifact_digest, "onnxruntime").to_json()
    done = fetch(
        ServingRequest("mlp", 1, endpoint.url, {"cpu-x86_64": [gone, good]}),
        tmp_path / "r",
        tmp_path / "c",
        "cpu-x86_64",
    )
    assert done.backend == "onnxruntime"
    assert "tvm artifact sha256:111111111111: " in done.fallback and "404" in done.fallback


def test_a_compile_failure_is_reported_with_its_reason(endpoint: Endpoint, tmp_path: Path) -> None:
    from motherboard.models.compilejob import report_failure

    source = write_sample("mlp", tmp_path)
    request = request_for(endpoint, source, "cpu-x86_64")
    report_failure(request, "OOMKilled while building")
    assert endpoint.service.failure(request.digest, "cpu-x86_64") == "OOMKilled while building"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{endpoint.url}/v1/failures/{request.digest[7:]}/cpu-x86_64", data=b"x", method="PUT"
            )
        )
    assert refused.value.code == 403


def test_the_endpoint_lists_serving_replicas_for_prometheus_http_service_discovery(
    endpoint: Endpoint,
) -> None:
    store = Store()
    store.jobs[("apps", "ocr")] = {
        "metadata": {"name": "ocr", "namespace": "apps"},
        "spec": {"tasks": [{"name": "serve", "model": {"name": "ocr"}}, {"name": "side", "replicas": 1}]},
    }
    store.job_pods[("apps", "ocr")] = {
        "ocr-serve-0": ObservedPod("ocr-serve-0", "serve", 0, phase="Running", node="edge-1", ip="10.88.0.7"),
        "ocr-serve-1": ObservedPod("ocr-serve-1", "serve", 1, phase="Pending"),  # no IP yet
        "ocr-serve-2": ObservedPod("ocr-serve-2", "serve", 2, phase="Running", ip="10.88.0.9", deleting=True),
        "ocr-side-0": ObservedPod("ocr-side-0", "side", 0, phase="Running", ip="10.88.0.8"),  # no runtime
    }
    options = ServingOptions(endpoint=endpoint.url, image="img")
    controller = ModelController(None, store, endpoint.service, options, lambda key: None)  # type: ignore[arg-type]
    endpoint.service.scrape_targets = controller.scrape_targets
    with urllib.request.urlopen(f"{endpoint.url}/v1/sd/model-replicas", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        listed = json.loads(response.read())
    assert listed == [
        {
            "targets": ["10.88.0.7:8002"],
            "labels": {"namespace": "apps", "pod": "ocr-serve-0", "aijob": "ocr", "node": "edge-1"},
        }
    ]


def test_a_stale_copy_in_the_node_cache_is_replaced_from_the_endpoint_and_never_loaded(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    # The key was built again since the node cached it (an artifact deleted from the store and compiled again:
    # TVM builds are not byte-for-byte reproducible). Before, the replica refused its own cache and
    # crash-looped although the endpoint had the plan's artifact.
    source = write_sample("mlp", tmp_path)
    run(request_for(endpoint, source, "cpu-x86_64"), log=lambda _: None)
    [entry] = endpoint.service.entries(import_onnx(source).digest, "cpu-x86_64")
    cand = Candidate(entry.key.id, entry.manifest.artifact_digest, "onnxruntime").to_json()
    request = ServingRequest("mlp", 1, endpoint.url, {"cpu-x86_64": [cand]})
    cache = tmp_path / "c"
    fetch(request, tmp_path / "r1", cache, "cpu-x86_64")
    cached = cache / entry.key.id
    manifest = Manifest.read(cached)
    with (cached / manifest.artifact).open("ab") as f:
        f.write(b"an older build")
    dataclasses.replace(manifest, artifact_digest=digest_file(cached / manifest.artifact)).write(cached)
    done = fetch(request, tmp_path / "r2", cache, "cpu-x86_64")
    assert (done.digest, done.from_cache, done.fallback) == (entry.manifest.artifact_digest, False, "")
    assert Manifest.read(cached).artifact_digest == entry.manifest.artifact_digest  # the cache holds it now
    # Cut off from the endpoint with a stale copy: refused, never loaded.
    with (cached / manifest.artifact).open("ab") as f:
        f.write(b"an older build")
    dataclasses.replace(manifest, artifact_digest=digest_file(cached / manifest.artifact)).write(cached)
    unreachable = ServingRequest("mlp", 1, "http://127.0.0.1:9", {"cpu-x86_64": [cand]})
    with pytest.raises(ModelError, match="unreachable"):
        fetch(unreachable, tmp_path / "r3", cache, "cpu-x86_64")
