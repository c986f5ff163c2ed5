"""Model + Inference AIJob → compile jobs → artifacts in the Model's status → replicas on the real node
serving the artifact for their target → tritonclient through the Service; a version rollout under load
with zero failed requests; scale-up and scale-down; and the bad-input table.

Everything is real: the kubelet runs the compile jobs and the replicas from the project's image (built here
without a registry), Motherboard's scheduler places them, the operator serves artifacts over HTTP on the
real node's bridge, kube-proxy implements the Service, and the client is tritonclient. The model is PaddleOCR's
text-direction classifier from the ``rapidocr-onnxruntime`` wheel; onnxruntime on the original file is
the numerical reference.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tritonclient.http as thttp
from kubernetes import client

from motherboard.api.constants import GROUP, VERSION
from motherboard.devcluster import images, realnode
from motherboard.devcluster.build import ensure_binaries
from motherboard.devcluster.cluster import DevCluster
from motherboard.devcluster.fakenodes import api_client
from motherboard.devcluster.health import free_ports
from motherboard.devcluster.profile import ClusterProfile
from motherboard.kube.client import Kube, path_for
from motherboard.kube.config import load_access
from motherboard.models.zoo import wheel_model
from motherboard.operator.modelctl import fetched_report
from motherboard.runtime.reach import wait_until_serving
from tests.conftest import wait_for_default_service_account
from tests.integration.test_operator import wait_for
from tests.integration.test_scheduler import SchedulerProcess

REPO = Path(__file__).resolve().parents[2]
NODE = realnode.node_name(0)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
PROFILE = ClusterProfile.model_validate(
    {
        "kind": "ClusterProfile",
        "name": "model-serving-tests",
        "sites": [
            {"name": "central", "kind": "central", "region": "r1",
             "nodeGroups": [{"name": "cpu", "count": 1, "cpu": 16, "memoryGiB": 64}]},
            {"name": "edge-east", "kind": "edge", "region": "r2",
             "nodeGroups": [{"name": "arm", "count": 1, "cpu": 16, "memoryGiB": 64, "arch": "arm64"}]},
        ],
        "realNodes": {"count": 1, "site": "edge-east"},
    }
)  # fmt: skip
ON_THE_REAL_NODE: dict[str, Any] = {
    "nodeSelector": {"kubernetes.io/hostname": NODE},
    "tolerations": [{"operator": "Exists"}],
}
SMALL_RUNTIME = {"name": "runtime", "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}
"""The runtime container's requests, smaller than the default 500m: the real node has 2 CPUs."""
SHAPE = (2, 3, 48, 192)


def _log(message: str) -> None:
    print(f"[model-serving] {message}", file=sys.__stderr__, flush=True)


@dataclass
class Stack:
    dev: DevCluster
    api: client.ApiClient
    kubectl_bin: Path
    operator_log: Path
    sources: Path
    artifacts_url: str
    """The operator's artifact endpoint, from this host."""

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
        return obj

    def apply(self, ns: str, body: dict[str, Any]) -> None:
        import subprocess

        done = subprocess.run(
            [str(self.kubectl_bin), f"--kubeconfig={self.dev.kubeconfig}", "apply", "-n", ns, "-f", "-"],
            input=json.dumps(body), capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    def events(self, ns: str, name: str) -> list[tuple[str, str]]:
        items = self.core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
        return [(e.reason, e.message) for e in items]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    realnode.HOST_DIR.mkdir(parents=True, exist_ok=True)
    with (realnode.HOST_DIR / "real-node-tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bins = ensure_binaries(_log, real_nodes=True)
        root = tmp_path_factory.mktemp("model-serving")
        dev = DevCluster(root / "cluster")
        dev.up(PROFILE, progress=_log, bins=bins)
        from motherboard.demo.components import Component

        started: list[Component] = []
        try:
            images.import_image(images.project_image(_log), realnode.ctr(), _log)
            dev_kubectl = [str(bins.kubectl), f"--kubeconfig={dev.kubeconfig}"]
            import subprocess

            subprocess.run([*dev_kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], check=True,
                           capture_output=True)  # fmt: skip
            subprocess.run([*dev_kubectl, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
                           check=True, capture_output=True)  # fmt: skip
            (port,) = free_ports(1)
            overrides = json.dumps(ON_THE_REAL_NODE)
            operator = Component(
                "operator",
                ["operator", "run", f"--kubeconfig={dev.kubeconfig}", "--metrics-port=0", "--health-port=0",
                 "--no-leader-elect", f"--artifact-port={port}", f"--artifact-dir={root / 'artifacts'}",
                 f"--artifact-url=http://{realnode.BRIDGE_IP}:{port}", f"--compile-pod-overrides={overrides}"],
                root / "operator.log", {"artifacts": port},
            )  # fmt: skip
            operator.start()
            started.append(operator)
            scheduler = SchedulerProcess(dev.kubeconfig, root / "scheduler.log", "--no-leader-elect").start()
            api = api_client(dev.kubeconfig)
            try:
                yield Stack(
                    dev,
                    api,
                    bins.kubectl,
                    root / "operator.log",
                    root / "sources",
                    f"http://127.0.0.1:{port}",
                )
            finally:
                scheduler.stop()
                api.close()
        finally:
            for component in started:
                component.stop()
            dev.down(progress=_log)
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def ns(stack: Stack) -> Iterator[str]:
    name = f"ms-{uuid.uuid4().hex[:6]}"
    stack.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for_default_service_account(stack.api, name)
    yield name
    stack.core.delete_namespace(name)
    # The real node has 2 CPUs: the next test's pods must not meet this one's still terminating.
    wait_for(f"namespace {name} gone", lambda: name not in {n.metadata.name for n in stack.core.list_namespace().items}, timeout=180)  # fmt: skip


def model(name: str, versions: list[tuple[int, Path]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "versions": [{"version": v, "source": {"uri": f"file://{path}"}} for v, path in versions],
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3, 48, 192]}],
            "compile": {"backends": ["onnxruntime"]},
            **spec,
        },
    }


def serving(name: str, model_name: str, replicas: int = 1, **task: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AIJob",
        "metadata": {"name": name},
        "spec": {
            "type": "Inference",
            "tasks": [
                {"name": "serve", "replicas": replicas, "model": {"name": model_name, **task.pop("model", {})},
                 "template": {"spec": {**ON_THE_REAL_NODE, "containers": [SMALL_RUNTIME]}}, **task}
            ],
        },
    }  # fmt: skip


def second_version(tmp: Path) -> Path:
    """The same network re-exported (another digest, the same answers): what a retrain often looks like."""
    graph = onnx.load(str(wheel_model("ocr-cls")))
    graph.doc_string = "version 2"
    path = tmp / "ocr-cls-v2.onnx"
    onnx.save(graph, str(path))
    return path


def reference(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    session = ort.InferenceSession(str(wheel_model("ocr-cls")), providers=["CPUExecutionProvider"])
    out: np.ndarray[Any, Any] = session.run(None, {"x": x})[0]
    return out


def service_url(stack: Stack, ns: str, name: str) -> str:
    svc = stack.core.read_namespaced_service(name, ns)
    return f"{svc.spec.cluster_ip}:8000"


def ask(url: str, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    with thttp.InferenceServerClient(url, network_timeout=30) as triton:
        tensor = thttp.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        result = triton.infer("ocr", [tensor])
        out = result.as_numpy(result.get_response()["outputs"][0]["name"])
        assert out is not None
        return out


async def replica_log(stack: Stack, ns: str, pod: str) -> str:
    async with Kube(load_access(stack.dev.kubeconfig)) as kube:
        return await kube.text(
            path_for("", "v1", "pods", ns, pod) + "/log", container="runtime", limitBytes="65536"
        )


def ask_once_routed(url: str, x: np.ndarray[Any, Any], timeout: float = 30) -> np.ndarray[Any, Any]:
    """:func:`ask`, once the Service reaches a replica: kube-proxy programs it a moment after its endpoints.

    Until then the ClusterIP is refused here, but answered with an empty 404 where the default route leads to
    a transparent proxy (as on CI), so waiting on "refused" alone is not enough.
    """
    wait_until_serving(url, timeout)
    return ask(url, x)


def compile_job_names(stack: Stack, ns: str) -> list[str]:
    items = stack.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "aijobs")["items"]
    return sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith("compile-"))


def serving_status(stack: Stack, ns: str, job: str) -> dict[str, Any]:
    status = stack.get("aijobs", ns, job).get("status") or {}
    return (status.get("serving") or [{}])[0]


def test_a_model_is_compiled_per_target_and_served_through_the_service(stack: Stack, ns: str) -> None:
    started = time.monotonic()
    stack.apply(
        ns,
        model(
            "ocr",
            [(1, wheel_model("ocr-cls"))],
            compile={"backends": ["onnxruntime"], "targets": ["cpu-aarch64"]},
        ),
    )
    stack.apply(ns, serving("ocr-svc", "ocr", replicas=2))

    def compile_jobs() -> list[str] | None:
        names = compile_job_names(stack, ns)
        return names if len(names) == 2 else None

    jobs = wait_for("a compile job per target", compile_jobs, timeout=60)
    assert [j.split("-v1-")[1].rsplit("-", 1)[0] for j in jobs] == ["cpu-aarch64", "cpu-x86-64"]

    def ready() -> dict[str, Any] | None:
        s = serving_status(stack, ns, "ocr-svc")
        return s if any(v.get("ready") == 2 for v in s.get("versions", [])) else None

    s = wait_for("two replicas serving", ready, timeout=600)
    first_serving = time.monotonic() - started
    _log(f"Model applied → 2 replicas serving (cold: compile jobs on the real node): {first_serving:.1f}s")
    status = stack.get("models", ns, "ocr")["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Imported": "True", "Compiled": "True", "Ready": "True"}, status["conditions"]
    artifacts = {a["target"]: a for a in status["versions"][0]["artifacts"]}
    assert set(artifacts) == {"cpu-x86_64", "cpu-aarch64"} and all(a["serving"] for a in artifacts.values())
    # The replicas serve the artifact for their target, named by digest in the job's status.
    assert s["artifacts"] == [
        {
            "target": "cpu-x86_64",
            "version": 1,
            "backend": "onnxruntime",
            "digest": artifacts["cpu-x86_64"]["digest"],
        }
    ]
    pods = stack.core.list_namespaced_pod(ns, label_selector="motherboard.io/job-name=ocr-svc").items
    assert {p.spec.node_name for p in pods} == {NODE}
    # The fetch report, read as the operator reads it (its client, the kubelet's log endpoint), to tell a
    # fallback to the job: none here, the preferred artifact served.
    fetched = fetched_report(asyncio.run(replica_log(stack, ns, pods[0].metadata.name)))
    assert fetched is not None, "no fetch report in the replica's log"
    assert fetched["target"] == "cpu-x86_64" and fetched["digest"] == artifacts["cpu-x86_64"]["digest"]
    assert not fetched.get("fallback")
    assert "ServingFallback" not in {reason for reason, _ in stack.events(ns, "ocr-svc")}
    x = np.random.default_rng(3).random(SHAPE, dtype=np.float32)
    answer = ask_once_routed(service_url(stack, ns, "ocr-svc"), x)
    np.testing.assert_allclose(answer, reference(x), rtol=1e-4, atol=1e-5)
    # Prometheus finds the replicas through the operator's HTTP discovery (what the dev cluster's Prometheus
    # uses); each listed target is the replica's runtime metrics, reachable from the host.
    with urllib.request.urlopen(f"{stack.artifacts_url}/v1/sd/model-replicas", timeout=10) as response:
        listed = [t for t in json.loads(response.read()) if t["labels"]["namespace"] == ns]
    assert sorted(t["labels"]["pod"] for t in listed) == sorted(p.metadata.name for p in pods)
    assert {t["labels"]["node"] for t in listed} == {NODE}
    with urllib.request.urlopen(f"http://{listed[0]['targets'][0]}/metrics", timeout=10) as response:
        assert 'nv_inference_request_success{model="ocr",version="1"}' in response.read().decode()


def test_a_new_version_rolls_out_with_no_failed_request_and_cached_artifacts_are_not_rebuilt(
    stack: Stack, ns: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    stack.apply(ns, model("ocr", [(1, wheel_model("ocr-cls"))]))
    stack.apply(ns, serving("ocr-svc", "ocr", replicas=2))
    wait_for("version 1 serving", lambda: any(v.get("ready", 0) >= 1 for v in serving_status(stack, ns, "ocr-svc").get("versions", [])), timeout=600)  # fmt: skip
    warm = time.monotonic() - started
    _log(f"Model applied → first replica serving, warm (artifact in the store): {warm:.1f}s")
    assert compile_job_names(stack, ns) == []  # the first test's artifact: never rebuilt
    wait_for("version 1 serving", lambda: any(v.get("ready") == 2 for v in serving_status(stack, ns, "ocr-svc").get("versions", [])), timeout=600)  # fmt: skip
    url = service_url(stack, ns, "ocr-svc")
    x = np.random.default_rng(4).random(SHAPE, dtype=np.float32)
    want = reference(x)

    # The load starts once the Service answers: kube-proxy programs a new Service's rules a moment after its
    # endpoints are ready (5 of 575 requests were refused in the first half second, before any rollout).
    np.testing.assert_allclose(ask_once_routed(url, x), want, rtol=1e-4, atol=1e-5)
    outcomes: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                np.testing.assert_allclose(ask(url, x), want, rtol=1e-4, atol=1e-5)
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)

    timeline: list[str] = []  # what the Service had while requests failed: printed with the failures

    def watch_endpoints() -> None:
        discovery = client.DiscoveryV1Api(stack.api)
        while not stop.is_set():
            slices = discovery.list_namespaced_endpoint_slice(
                ns, label_selector="kubernetes.io/service-name=ocr-svc"
            )
            ready = sorted(
                f"{(e.target_ref.name if e.target_ref else '?')}:{'R' if e.conditions.ready else '-'}"
                f"{'T' if e.conditions.terminating else ''}"
                for sl in slices.items
                for e in sl.endpoints or []
            )
            timeline.append(
                f"{time.monotonic():.1f} {' '.join(ready)} ok={outcomes.count('ok')} n={len(outcomes)}"
            )
            time.sleep(0.5)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    watcher = threading.Thread(target=watch_endpoints, daemon=True)
    watcher.start()
    try:
        stack.apply(ns, model("ocr", [(1, wheel_model("ocr-cls")), (2, second_version(tmp_path))]))

        def rolled_out() -> dict[str, Any] | None:
            s = serving_status(stack, ns, "ocr-svc")
            return (
                s
                if s.get("rolledOutVersion") == 2
                and s.get("versions") == [{"version": 2, "replicas": 2, "ready": 2}]
                else None
            )

        s = wait_for("version 2 rolled out", rolled_out, timeout=600)
        time.sleep(2)
    finally:
        stop.set()
        worker.join(30)
    failures = [o for o in outcomes if o != "ok"]
    _log(f"rollout under load: {len(outcomes)} requests, {len(failures)} failed")
    if failures:
        _log("endpoints over time:\n" + "\n".join(dict.fromkeys(timeline)))
    assert len(outcomes) > 20 and failures == [], failures[:5]
    assert s["stableVersion"] == 2
    assert [n.split("-v")[1][0] for n in compile_job_names(stack, ns)] == ["2"]  # only the new version
    reasons = [r for r, _ in stack.events(ns, "ocr-svc")]
    assert reasons.count("RollingUpdate") == 2


def test_bad_input_becomes_a_reason_on_the_model_and_the_job(stack: Stack, ns: str, tmp_path: Path) -> None:
    stack.apply(ns, model("gone", [(1, tmp_path / "missing.onnx")]))
    stack.apply(ns, serving("gone-svc", "gone"))
    stack.apply(ns, serving("nomodel-svc", "nothing-here"))
    pinned = serving("pinned-svc", "gone", model={"versionPolicy": "Pinned", "version": 9})
    stack.apply(ns, pinned)

    def reason(job: str) -> tuple[str, str] | None:
        status = stack.get("aijobs", ns, job).get("status") or {}
        return (status["reason"], status["message"]) if status.get("reason") not in (None, "Queued") else None

    assert wait_for("model source error", lambda: reason("gone-svc"), timeout=60)[0] == "ModelNotImported"
    got = wait_for("model not found", lambda: reason("nomodel-svc"), timeout=60)
    assert got[0] == "ModelNotFound" and "create it (kind: Model) or fix tasks[].model.name" in got[1]
    got = wait_for("version not found", lambda: reason("pinned-svc"), timeout=60)
    assert got[0] == "VersionNotFound" and "has no version 9 (it has 1)" in got[1]
    status = wait_for(
        "the model's Imported condition", lambda: stack.get("models", ns, "gone").get("status"), timeout=60
    )
    imported = next(c for c in status["conditions"] if c["type"] == "Imported")
    assert imported["status"] == "False" and "no such file on this machine" in imported["message"]
    assert ("SourceError", imported["message"]) in stack.events(ns, "gone")
    assert stack.core.list_namespaced_pod(ns).items == []  # nothing half-started


def test_load_scales_replicas_up_through_the_queue_quota_and_back_down(stack: Stack, ns: str) -> None:
    # Half a CPU of quota: two replicas of 250m fit, the third waits for the queue (and says so).
    queue = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Queue", "metadata": {"name": ns},
             "spec": {"namespaces": [ns], "quotas": [{"resource": "cpu", "nominal": "500m"}]}}  # fmt: skip
    stack.apply(ns, queue)
    job = serving("ocr-svc", "ocr", replicas=1,
                  autoscaling={"minReplicas": 1, "maxReplicas": 3, "targetInFlight": 1, "scaleDownDelaySeconds": 5})  # fmt: skip
    job["spec"]["queue"] = ns
    stack.apply(ns, model("ocr", [(1, wheel_model("ocr-cls"))]))
    stack.apply(ns, job)
    wait_for("one replica serving", lambda: any(v.get("ready") == 1 for v in serving_status(stack, ns, "ocr-svc").get("versions", [])), timeout=600)  # fmt: skip
    url = service_url(stack, ns, "ocr-svc")
    x = np.random.default_rng(5).random((1, 3, 48, 192), dtype=np.float32)
    wait_until_serving(url)
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                ask(url, x)
            except Exception:
                time.sleep(0.1)

    clients = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in clients:
        t.start()
    step = time.monotonic()
    try:
        s = wait_for("the autoscaler to want 3", lambda: (st := serving_status(stack, ns, "ocr-svc")).get("desiredReplicas") == 3 and st, timeout=120)  # fmt: skip
        wait_for("two replicas serving", lambda: any(v.get("ready") == 2 for v in serving_status(stack, ns, "ocr-svc").get("versions", [])), timeout=300)  # fmt: skip
        _log(f"autoscaling: 4 clients → 3 replicas wanted, 2 serving in {time.monotonic() - step:.1f}s")

        def waiting_for_quota() -> str | None:
            pod = stack.core.read_namespaced_pod("ocr-svc-serve-2", ns)
            cond = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
            return cond.message if cond is not None and cond.status == "False" and cond.message else None

        message = wait_for("the third replica to wait for the quota", waiting_for_quota, timeout=60)
        assert f"queue {ns}" in message, message
        assert s["desiredReplicas"] == 3
    finally:
        stop.set()
        for t in clients:
            t.join(35)
    wait_for("back to one replica", lambda: serving_status(stack, ns, "ocr-svc").get("desiredReplicas") == 1 and len(stack.core.list_namespaced_pod(ns, label_selector="motherboard.io/job-name=ocr-svc").items) == 1, timeout=300)  # fmt: skip
    reasons = [r for r, _ in stack.events(ns, "ocr-svc")]
    assert reasons.count("ScaledDown") >= 2
