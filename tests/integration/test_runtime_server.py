"""``motherboard runtime serve`` as a real process, driven by the real ``tritonclient`` (HTTP and gRPC).

No Kubernetes here: the server runs on free loopback ports over a repository of small ONNX models built
with ``onnx.helper``, and every answer is checked against onnxruntime called in-process.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from motherboard.runtime.reach import answers_as_runtime
from tests.unit.runtime import onnx_models as om

START_TIMEOUT_S = 60.0
PROTOCOLS = ("http-binary", "http-json", "grpc")


@dataclass
class Server:
    proc: subprocess.Popen[str]
    http: int
    grpc: int
    metrics: int
    log: Path

    def http_client(self) -> thttp.InferenceServerClient:
        return thttp.InferenceServerClient(
            f"127.0.0.1:{self.http}", connection_timeout=30, network_timeout=30
        )

    def grpc_client(self) -> tgrpc.InferenceServerClient:
        return tgrpc.InferenceServerClient(f"127.0.0.1:{self.grpc}")

    def raw(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One plain HTTP request (for what tritonclient refuses to send): (status, JSON body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return response.status, json.loads(data) if data else None

    def metrics_text(self) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics, timeout=30)
        try:
            conn.request("GET", "/metrics")
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def start_server(repository: Path, log: Path, *extra: str) -> Server:
    args = [
        sys.executable, "-m", "motherboard.cli", "runtime", "serve", "--repository", str(repository),
        "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0", "--threads", "1",
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MOTHERBOARD_DEVICE": "cpu-test"}
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("{"):
                ports = json.loads(line)
                return Server(proc, ports["http"], ports["grpc"], ports["metrics"], log)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"server did not start: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = om.make_repository(tmp_path_factory.mktemp("repo"))
    om.cnn(root / "slow" / "1" / "model.onnx", size=128, channels=32)
    om.write_config(
        root / "slow", {"max_batch_size": 8, "max_queue_size": 2, "instance_group": [{"count": 1}]}
    )
    om.mlp(root / "hot" / "1" / "model.onnx", seed=11)
    return root


@pytest.fixture(scope="module")
def server(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(repo, tmp_path_factory.mktemp("log") / "server.log", "--max-body-mib", "2")
    yield srv
    code = srv.stop()
    assert code == 0, srv.log.read_text()[-3000:]


def infer(
    srv: Server, protocol: str, model: str, feeds: dict[str, np.ndarray[Any, Any]], outputs: list[str],
    version: str = "",
) -> dict[str, np.ndarray[Any, Any]]:  # fmt: skip
    """One request through tritonclient in the given protocol flavour; outputs as numpy."""
    if protocol == "grpc":
        client: Any = srv.grpc_client()
        inputs = []
        for name, array in feeds.items():
            tensor = tgrpc.InferInput(name, list(array.shape), _datatype(array))
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        result = client.infer(
            model, inputs, model_version=version, outputs=[tgrpc.InferRequestedOutput(o) for o in outputs]
        )
    else:
        binary = protocol == "http-binary"
        client = srv.http_client()
        inputs = []
        for name, array in feeds.items():
            tensor = thttp.InferInput(name, list(array.shape), _datatype(array))
            tensor.set_data_from_numpy(array, binary_data=binary)
            inputs.append(tensor)
        requested = [thttp.InferRequestedOutput(o, binary_data=binary) for o in outputs]
        result = client.infer(model, inputs, model_version=version, outputs=requested)
    client.close()
    return {o: result.as_numpy(o) for o in outputs}


def scrape(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a Prometheus text exposition as written (name, labels, value)."""
    samples = []
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def _datatype(array: np.ndarray[Any, Any]) -> str:
    return {"float32": "FP32", "int64": "INT64"}[array.dtype.name]


# --- metadata, config, health ----------------------------------------------------------------------


def test_health_and_server_metadata_over_both_protocols(server: Server) -> None:
    h, g = server.http_client(), server.grpc_client()
    assert h.is_server_live() and h.is_server_ready()
    assert g.is_server_live() and g.is_server_ready()
    extensions = set(h.get_server_metadata()["extensions"])
    assert {"binary_tensor_data", "model_configuration", "statistics", "model_repository"} <= extensions
    assert set(g.get_server_metadata(as_json=True)["extensions"]) == extensions
    assert h.is_model_ready("mlp") and g.is_model_ready("mlp")
    assert not h.is_model_ready("nope") and not g.is_model_ready("nope")
    # What clients of a new Service wait on (motherboard.runtime.reach): the server names itself.
    assert answers_as_runtime(f"127.0.0.1:{server.http}")


def test_model_metadata_and_config(server: Server) -> None:
    h, g = server.http_client(), server.grpc_client()
    meta = h.get_model_metadata("mlp")
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 16]}]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 8]}]
    assert meta["versions"] == ["1"]
    gmeta = g.get_model_metadata("mlp", as_json=True)
    assert gmeta["inputs"][0] == {
        "name": "x",
        "datatype": "FP32",
        "shape": ["-1", "16"],
    }  # int64 → JSON string
    config = h.get_model_config("cnn")
    assert config["max_batch_size"] == 16
    assert config["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [3, 16, 16]}]
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 2000
    gconfig = g.get_model_config("cnn", as_json=True)["config"]
    assert gconfig["max_batch_size"] == 16 and gconfig["input"][0]["dims"] == ["3", "16", "16"]
    assert gconfig["dynamic_batching"]["max_queue_delay_microseconds"] == "2000"
    # Defaults derived from the model: dynamic first dimension → batching on; fixed shapes → no batching.
    assert h.get_model_config("mlp")["max_batch_size"] == 32 and "dynamic_batching" in h.get_model_config(
        "mlp"
    )
    fixed = h.get_model_config("fixed")
    assert fixed["max_batch_size"] == 0 and "dynamic_batching" not in fixed
    assert fixed["input"][1] == {"name": "b", "data_type": "TYPE_INT64", "dims": [2, 3]}
    pipeline = h.get_model_config("pipeline")
    assert pipeline["platform"] == "ensemble" and len(pipeline["ensemble_scheduling"]["step"]) == 2


# --- inference ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_infer_matches_onnxruntime_on_every_model(server: Server, repo: Path, protocol: str) -> None:
    rng = np.random.default_rng(7)
    cases: list[tuple[str, dict[str, np.ndarray[Any, Any]], str]] = [
        ("mlp", {"x": rng.standard_normal((3, 16)).astype(np.float32)}, "y"),
        ("cnn", {"x": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)}, "logits"),
        ("fixed", {"a": rng.standard_normal((2, 3)).astype(np.float32), "b": np.arange(6, dtype=np.int64).reshape(2, 3)}, "sum"),
    ]  # fmt: skip
    for model, feeds, output in cases:
        got = infer(server, protocol, model, feeds, [output])[output]
        want = om.reference(repo / model / "1" / "model.onnx", feeds)[0]
        assert got.shape == want.shape and got.dtype == want.dtype, model
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=model)


def test_outputs_not_named_come_back_binary_and_match(server: Server, repo: Path) -> None:
    x = np.random.default_rng(3).standard_normal((5, 16)).astype(np.float32)
    tensor = thttp.InferInput("x", [5, 16], "FP32")
    tensor.set_data_from_numpy(x)
    result = server.http_client().infer("mlp", [tensor], request_id="req-42")
    assert result.get_response()["id"] == "req-42"
    np.testing.assert_allclose(
        result.as_numpy("y"), om.reference(repo / "mlp/1/model.onnx", {"x": x})[0], rtol=1e-5
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ensemble_runs_its_steps_in_process(server: Server, repo: Path, protocol: str) -> None:
    x = np.random.default_rng(5).standard_normal((4, 16)).astype(np.float32)
    probs = infer(server, protocol, "pipeline", {"features": x}, ["probs"])["probs"]
    logits = om.reference(repo / "mlp/1/model.onnx", {"x": x})[0]
    want = om.reference(repo / "softmax/1/model.onnx", {"logits": logits})[0]
    np.testing.assert_allclose(probs, want, rtol=1e-5, atol=1e-6)


# --- bad input ---------------------------------------------------------------------------------------


def test_bad_requests_get_protocol_errors_naming_the_problem(server: Server) -> None:
    x = np.zeros((1, 16), dtype=np.float32)
    head = {
        "inputs": [
            {"name": "x", "shape": [1, 16], "datatype": "FP32", "parameters": {"binary_data_size": 64}}
        ]
    }
    header = json.dumps(head).encode()

    def post(path: str, doc: Any, tail: bytes = b"", length: int | None = None) -> tuple[int, Any]:
        body = (doc if isinstance(doc, bytes) else json.dumps(doc).encode()) + tail
        headers = {"Inference-Header-Content-Length": str(length)} if length is not None else {}
        return server.raw("POST", path, body, headers)

    status, body = post("/v2/models/nope/infer", head, x.tobytes(), len(header))
    assert status == 404 and "model 'nope' is not loaded" in body["error"]
    status, body = post("/v2/models/mlp/versions/9/infer", head, x.tobytes(), len(header))
    assert status == 404 and "no version 9" in body["error"]
    status, body = post("/v2/models/mlp/infer", b"{not json")
    assert status == 400 and "JSON" in body["error"]
    # The binary header lies: it claims more bytes than were sent, or fewer.
    status, body = post("/v2/models/mlp/infer", head, x.tobytes()[:40], len(header))
    assert status == 400 and "binary_data_size 64" in body["error"] and "'x'" in body["error"]
    status, body = post("/v2/models/mlp/infer", head, x.tobytes() + b"1234", len(header))
    assert status == 400 and "4 binary bytes that no input" in body["error"]
    status, body = post("/v2/models/mlp/infer", head, x.tobytes(), len(header) + 10_000)
    assert status == 400 and "Inference-Header-Content-Length" in body["error"]
    wrong_count = {
        "inputs": [
            {"name": "x", "shape": [1, 16], "datatype": "FP32", "parameters": {"binary_data_size": 60}}
        ]
    }
    status, body = post("/v2/models/mlp/infer", wrong_count, x.tobytes()[:60], len(json.dumps(wrong_count)))
    assert status == 400 and "needs 64 bytes, got 60" in body["error"]
    status, body = post(
        "/v2/models/mlp/infer",
        {"inputs": [{"name": "z", "shape": [1, 16], "datatype": "FP32", "data": [0.0] * 16}]},
    )
    assert status == 400 and "no input named 'z'" in body["error"]
    status, body = post(
        "/v2/models/mlp/infer",
        {"inputs": [{"name": "x", "shape": [1, 15], "datatype": "FP32", "data": [0.0] * 15}]},
    )
    assert status == 400 and "expected shape [-1, 16]" in body["error"] and "got [1, 15]" in body["error"]
    status, body = post(
        "/v2/models/mlp/infer",
        {"inputs": [{"name": "x", "shape": [1, 16], "datatype": "INT64", "data": [0] * 16}]},
    )
    assert status == 400 and "expected datatype FP32, got INT64" in body["error"]
    status, body = post(
        "/v2/models/mlp/infer",
        {"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [0.0] * 3}]},
    )
    assert status == 400 and "needs 16 values, data has 3" in body["error"]
    status, body = post(
        "/v2/models/mlp/infer",
        {"inputs": [{"name": "x", "shape": [40, 16], "datatype": "FP32", "data": [0.0] * 640}]},
    )
    assert status == 400 and "batch size 40 is outside 1..32" in body["error"]
    status, body = post(
        "/v2/models/mlp/infer",
        {
            "inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [0.0] * 16}],
            "outputs": [{"name": "w"}],
        },
    )
    assert status == 400 and "no output named 'w'" in body["error"]
    status, body = server.raw("POST", "/v2/models/mlp/infer", b"0" * (3 << 20))
    assert status == 413 and "exceeds the server's limit" in body["error"]
    # tritonclient raises with the server's message.
    with pytest.raises(InferenceServerException, match="no input named 'q'"):
        tensor = thttp.InferInput("q", [1, 16], "FP32")
        tensor.set_data_from_numpy(x)
        server.http_client().infer("mlp", [tensor])
    with pytest.raises(InferenceServerException, match="NOT_FOUND") as caught:
        tensor = tgrpc.InferInput("x", [1, 16], "FP32")
        tensor.set_data_from_numpy(x)
        server.grpc_client().infer("nope", [tensor])
    assert "model 'nope' is not loaded" in str(caught.value)
    # A raw gRPC request whose bytes disagree with its shape (tritonclient checks sizes before sending).
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = service_pb2.ModelInferRequest(model_name="mlp")
        request.inputs.add(name="x", datatype="FP32", shape=[1, 16])
        request.raw_input_contents.append(b"\0" * 20)
        with pytest.raises(grpc.RpcError) as rpc_error:
            stub.ModelInfer(request, timeout=30)
    assert rpc_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "needs 64 bytes, got 20" in rpc_error.value.details()


def test_a_client_that_disconnects_mid_request_does_not_hurt_the_server(server: Server) -> None:
    for _ in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", server.http, timeout=10)
        conn.putrequest("POST", "/v2/models/mlp/infer")
        conn.putheader("Content-Length", "100000")
        conn.endheaders(b'{"inputs": [')
        conn.close()
    x = np.ones((1, 16), dtype=np.float32)
    assert infer(server, "http-binary", "mlp", {"x": x}, ["y"])["y"].shape == (1, 8)


def test_a_burst_beyond_the_queue_gets_503_with_the_reason_and_the_rest_succeed(server: Server) -> None:
    x = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype(np.float32)
    results: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        client = server.http_client()
        tensor = thttp.InferInput("x", [1, 3, 128, 128], "FP32")
        tensor.set_data_from_numpy(x)
        try:
            client.infer("slow", [tensor])
            outcome = "ok"
        except InferenceServerException as exc:
            outcome = str(exc)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 24
    refused = [r for r in results if r != "ok"]
    assert results.count("ok") >= 1 and refused, results
    assert all("queue is full (2 requests waiting, max_queue_size)" in r for r in refused), refused
    assert server.http_client().is_server_ready()


# --- batching, statistics, metrics ----------------------------------------------------------------


def test_dynamic_batching_is_visible_in_statistics_and_metrics(server: Server) -> None:
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    before = server.http_client().get_inference_statistics("cnn")["model_stats"][0]

    def worker(protocol: str) -> None:
        for _ in range(15):
            infer(server, protocol, "cnn", {"x": x}, ["logits"])

    threads = [threading.Thread(target=worker, args=(p,)) for p in ("http-binary", "grpc") * 6]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    stats = server.http_client().get_inference_statistics("cnn")["model_stats"][0]
    requests = stats["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"]
    assert requests == 180
    executions = stats["execution_count"] - before["execution_count"]
    assert stats["inference_count"] - before["inference_count"] == 180
    assert executions < 180, "the 2 ms queue delay should have stacked concurrent requests"
    assert max(b["batch_size"] for b in stats["batch_stats"]) > 1
    gstats = server.grpc_client().get_inference_statistics("cnn", as_json=True)["model_stats"][0]
    assert int(gstats["inference_count"]) >= stats["inference_count"]

    text = server.metrics_text()
    families = {f.name for f in text_string_to_metric_families(text)}  # the exposition parses

    def sample(name: str, **labels: str) -> float:
        found = [
            value
            for sname, slabels, value in scrape(text)
            if sname == name and labels.items() <= slabels.items()
        ]
        assert len(found) == 1, (name, labels, found)
        return found[0]

    # Triton's names exactly (no _total suffix: dashboards query them as Triton writes them).
    assert "\nnv_inference_request_success{" in text and "\nnv_inference_request_failure{" in text
    assert sample("nv_inference_count", model="cnn", version="1") >= 180
    assert sample("nv_inference_exec_count", model="cnn", version="1") < sample(
        "nv_inference_count", model="cnn", version="1"
    )
    assert sample("motherboard_runtime_batch_size_count", model="cnn", version="1") == sample(
        "nv_inference_exec_count", model="cnn", version="1"
    )
    assert sample("motherboard_runtime_batch_size_sum", model="cnn", version="1") == sample(
        "nv_inference_count", model="cnn", version="1"
    )
    # The latency histogram counts every successful request once (p99 panels and SLO alerts read it).
    assert sample("motherboard_runtime_request_duration_seconds_count", model="cnn", version="1") == sample(
        "nv_inference_request_success", model="cnn", version="1"
    )
    assert sample(
        "motherboard_runtime_request_duration_seconds_bucket", model="cnn", version="1", le="+Inf"
    ) == (sample("nv_inference_request_success", model="cnn", version="1"))
    assert sample("nv_inference_queue_duration_us", model="cnn", version="1") > 0
    assert sample("nv_inference_compute_infer_duration_us", model="cnn", version="1") > 0
    assert sample("motherboard_runtime_device_info", device="cpu-test") == 1
    assert {"nv_inference_request_failure", "motherboard_runtime_batch_size"} <= families
    assert sample("motherboard_runtime_queue_depth", model="cnn", version="1") == 0


# --- versions and hot update ------------------------------------------------------------------------


@dataclass
class Traffic:
    """Background clients hammering one model (unversioned) until stopped; every failure is kept."""

    srv: Server
    model: str
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int = 4) -> None:
        for i in range(clients):
            protocol = "grpc" if i % 2 else "http-binary"
            thread = threading.Thread(target=self._run, args=(protocol,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, protocol: str) -> None:
        x = np.ones((2, 16), dtype=np.float32)
        deadline = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                y = infer(self.srv, protocol, self.model, {"x": x}, ["y"])["y"]
                assert y.shape == (2, 8)
                self.ok += 1
            except Exception as exc:
                self.failures.append(f"{protocol}: {exc}")

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _load(srv: Server, model: str) -> tuple[int, Any]:
    return srv.raw("POST", f"/v2/repository/models/{model}/load")


def test_versions_load_and_unload_under_load_fail_no_request(server: Server, repo: Path) -> None:
    hot = repo / "hot"
    x = np.ones((2, 16), dtype=np.float32)
    h = server.http_client()
    traffic = Traffic(server, "hot")
    traffic.start()
    time.sleep(0.3)
    try:
        # A new version: the latest-1 policy moves to it; requests without a version follow.
        om.mlp(hot / "2" / "model.onnx", seed=22)
        assert _load(server, "hot") == (200, {})
        assert h.get_model_metadata("hot")["versions"] == ["2"]
        np.testing.assert_allclose(
            infer(server, "http-binary", "hot", {"x": x}, ["y"])["y"],
            om.reference(hot / "2/model.onnx", {"x": x})[0],
            rtol=1e-5,
        )
        # Serve both, address each explicitly.
        om.write_config(hot, {"version_policy": {"all": {}}, "dynamic_batching": {}})
        assert _load(server, "hot") == (200, {})
        assert h.get_model_metadata("hot")["versions"] == ["1", "2"]
        for version in ("1", "2"):
            got = infer(server, "grpc", "hot", {"x": x}, ["y"], version=version)["y"]
            np.testing.assert_allclose(
                got, om.reference(hot / version / "model.onnx", {"x": x})[0], rtol=1e-5
            )
        # Retire version 1 while traffic runs.
        om.write_config(hot, {"version_policy": {"specific": {"versions": [2]}}, "dynamic_batching": {}})
        assert _load(server, "hot") == (200, {})
        assert h.get_model_metadata("hot")["versions"] == ["2"]
        status, body = server.raw("GET", "/v2/models/hot/versions/1")
        assert status == 404 and "no version 1" in body["error"]
        # A version that cannot load leaves version 2 serving and says why.
        (hot / "3").mkdir()
        (hot / "3" / "model.onnx").write_bytes(b"this is not an onnx file")
        om.write_config(hot, {"version_policy": {"latest": {"num_versions": 1}}, "dynamic_batching": {}})
        status, body = _load(server, "hot")
        assert (
            status == 400
            and "failed to load 'hot'" in body["error"]
            and "ONNX Runtime cannot load it" in body["error"]
        )
        assert "versions already serving stay" in body["error"]
        assert h.get_model_metadata("hot")["versions"] == ["2"]
        index = {(m["name"], m.get("version", "")): m for m in h.get_model_repository_index()}
        assert index[("hot", "2")]["state"] == "READY"
        time.sleep(0.3)
    finally:
        traffic.finish()
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.ok > 20
    # Unloading the whole model: it leaves the index's READY rows, then loads back (the bad v3 removed).
    shutil.rmtree(hot / "3")
    h.unload_model("hot")
    assert not h.is_model_ready("hot")
    with pytest.raises(InferenceServerException, match="not loaded"):
        infer(server, "http-binary", "hot", {"x": x}, ["y"])
    g = server.grpc_client()
    g.load_model("hot")
    assert g.is_model_ready("hot") and g.get_model_metadata("hot", as_json=True)["versions"] == ["2"]
    assert any(m["name"] == "hot" for m in g.get_model_repository_index(as_json=True)["models"])


# --- shutdown ----------------------------------------------------------------------------------------


def test_sigterm_drains_requests_in_flight_then_exits_zero(tmp_path: Path) -> None:
    om.mlp(tmp_path / "repo" / "held" / "1" / "model.onnx")
    # A long queue delay holds requests in the queue: they are in flight when SIGTERM arrives.
    om.write_config(
        tmp_path / "repo" / "held",
        {"max_batch_size": 64, "dynamic_batching": {"max_queue_delay_microseconds": 1_500_000}},
    )
    srv = start_server(tmp_path / "repo", tmp_path / "server.log")
    x = np.ones((1, 16), dtype=np.float32)
    outcomes: list[str] = []

    def one() -> None:
        try:
            outcomes.append(
                "ok" if infer(srv, "http-binary", "held", {"x": x}, ["y"])["y"].shape == (1, 8) else "bad"
            )
        except Exception as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        families = {f.name: f for f in text_string_to_metric_families(srv.metrics_text())}
        pending = [
            s.value
            for s in families["nv_inference_pending_request_count"].samples
            if s.labels["model"] == "held"
        ]
        if pending and pending[0] >= 4:
            break
        time.sleep(0.05)
    srv.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    assert srv.proc.wait(timeout=30) == 0, srv.log.read_text()[-3000:]
    srv.stop()  # closes the pipe
    assert outcomes == ["ok"] * 4, outcomes
    assert "draining: 4 requests in flight" in srv.log.read_text()


# --- a compiled TVM artifact ---------------------------------------------------------------------


def test_a_tvm_artifact_from_model_compile_serves_under_concurrent_clients(tmp_path: Path) -> None:
    """The manifest path end to end: `motherboard model compile -b tvm`, then serve it (a TVM VM is not
    thread-safe: each instance has its own runner) and compare with onnxruntime."""
    source = om.mlp(tmp_path / "mlp.onnx", seed=9)
    compiled = subprocess.run(
        [
            sys.executable, "-m", "motherboard.cli", "model", "compile", str(source), "--target", "cpu-x86_64",
            "--output", str(tmp_path / "repo" / "tvm_mlp" / "1"), "--backend", "tvm", "--name", "tvm_mlp",
            "--store", str(tmp_path / "store"), "--no-measure",
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr[-2000:]
    srv = start_server(tmp_path / "repo", tmp_path / "server.log")
    try:
        assert srv.http_client().get_model_metadata("tvm_mlp")["platform"] == "tvm"
        x = np.random.default_rng(2).standard_normal((3, 16)).astype(np.float32)
        want = om.reference(source, {"x": x})[0]
        failures: list[str] = []

        def client(protocol: str) -> None:
            for _ in range(40):
                try:
                    got = infer(srv, protocol, "tvm_mlp", {"x": x}, ["y"])["y"]
                    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
                except Exception as exc:
                    failures.append(str(exc))

        threads = [threading.Thread(target=client, args=(p,)) for p in ("http-binary", "grpc") * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert failures == []
        stats = srv.http_client().get_inference_statistics("tvm_mlp")["model_stats"][0]
        assert stats["inference_stats"]["success"]["count"] == 240
    finally:
        assert srv.stop() == 0
