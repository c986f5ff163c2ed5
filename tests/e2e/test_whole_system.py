"""The whole system on the local control plane: real operator, real scheduler, kwok nodes, the examples.

``kubectl apply -f examples/`` → pods with the right env and resources → bound on exact devices →
Running → Succeeded (kwok completes them) → statuses, conditions and Events; and a high-priority job
preempting a low-priority one, whose AIJob then shows Preempted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from motherboard.api.assignment import DeviceAssignment
from motherboard.demo import components
from motherboard.demo.run import finished
from tests.conftest import Cluster
from tests.integration.test_operator import delete_queue, install_crds, wait_for, webhook_serving

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION = "motherboard.io", "v1alpha1"
EXAMPLE_NAMESPACES = ("research", "production", "edge-apps")


@pytest.fixture(scope="module")
def system(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """CRDs installed, the operator (with its webhook) and the scheduler running as real processes."""
    install_crds(cluster)
    logs = tmp_path_factory.mktemp("e2e-logs")
    parts = [components.operator(cluster.kubeconfig, logs), components.scheduler(cluster.kubeconfig, logs)]
    for part in parts:
        part.start()
    try:
        wait_for("the webhook", lambda: webhook_serving(cluster), timeout=90)
        yield cluster
    finally:
        for part in reversed(parts):
            part.stop()
            print(f"--- {part.name} ---\n{part.tail(40)}")
        # The webhook fails closed and its configuration outlives the operator: later tests run without one.
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            cluster.kubectl("delete", kind, GROUP, "--ignore-not-found", check=False)


def custom(cluster: Cluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(cluster.api)


def jobs(cluster: Cluster, namespace: str | None = None) -> list[dict[str, Any]]:
    api = custom(cluster)
    listed: Any = (
        api.list_namespaced_custom_object(GROUP, VERSION, namespace, "aijobs")
        if namespace
        else api.list_cluster_custom_object(GROUP, VERSION, "aijobs")
    )
    return list(listed["items"])


def pods_of(cluster: Cluster, namespace: str, job: str) -> list[client.V1Pod]:
    core = client.CoreV1Api(cluster.api)
    return list(core.list_namespaced_pod(namespace, label_selector=f"motherboard.io/job-name={job}").items)


def conditions(job: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (job.get("status") or {}).get("conditions", [])}


def test_the_examples_run_to_completion_on_exact_devices(system: Cluster) -> None:
    cluster = system
    for namespace in EXAMPLE_NAMESPACES:  # a reused cluster may hold an earlier run's jobs
        cluster.kubectl(
            "delete", "aijobs", "--all", "-n", namespace, "--ignore-not-found", "--wait=true", check=False
        )
    cluster.kubectl("apply", "-f", str(REPO / "examples"))
    wait_for("every example job to finish (or serve)", lambda: finished(jobs(cluster)), timeout=240)
    by_name = {j["metadata"]["name"]: j for j in jobs(cluster)}
    assert set(by_name) >= {"llama-finetune", "embed-batch", "detector", "hparam-sweep", "ray-pretrain"}
    for name, job in by_name.items():
        expected = "Running" if job["spec"]["type"] == "Inference" else "Succeeded"
        assert job["status"]["phase"] == expected, (name, job["status"])
        assert conditions(job)[expected] == "True"
        assert job["status"]["observedGeneration"] == job["metadata"]["generation"]

    # The PyTorch gang: 2 workers x 4 H100s in the central site, rendezvous env wired.
    llama = pods_of(cluster, "research", "llama-finetune")
    assert len(llama) == 2
    nodes = {n.metadata.name: n for n in client.CoreV1Api(cluster.api).list_node().items}
    for pod in llama:
        env = {e.name: e.value for e in pod.spec.containers[0].env}
        assert env["WORLD_SIZE"] == "2" and env["MASTER_ADDR"] == "llama-finetune-worker-0.llama-finetune"
        assert nodes[pod.spec.node_name].metadata.labels["motherboard.io/site"] == "central"
        assignment = DeviceAssignment.from_pod_annotations(pod.metadata.annotations)
        assert assignment is not None and assignment.node == pod.spec.node_name
        assert len(assignment.containers[0].devices) == 4
    # MIG slices and fractional shares get exactly what they asked for.
    for pod in pods_of(cluster, "research", "hparam-sweep"):
        assignment = DeviceAssignment.from_pod_annotations(pod.metadata.annotations)
        assert assignment is not None
        (entry,) = assignment.containers
        assert entry.resource == "nvidia.com/mig-1g.10gb" and entry.devices[0].parent is not None
    shares = [
        DeviceAssignment.from_pod_annotations(p.metadata.annotations)
        for p in pods_of(cluster, "edge-apps", "embed-batch")
    ]
    assert all(a is not None and a.containers[0].devices[0].milli == 250 for a in shares)
    # Edge inference runs on edge nodes only.
    for pod in pods_of(cluster, "edge-apps", "detector"):
        assert nodes[pod.spec.node_name].metadata.labels["motherboard.io/site-kind"] == "edge"

    # Pools and queues describe the hardware and the tenants.
    def pool_status() -> dict[str, Any]:
        pool: Any = custom(cluster).get_cluster_custom_object(GROUP, VERSION, "devicepools", "h100-central")
        return dict(pool.get("status") or {})

    wait_for("the H100 pool's status", lambda: pool_status().get("devices") == 32, timeout=30)
    assert pool_status()["nodes"] == 4 and pool_status()["healthy"] == 32
    assert pool_status()["capacity"] == {"nvidia.com/gpu": "32"}
    research: Any = custom(cluster).get_cluster_custom_object(GROUP, VERSION, "queues", "research")
    usage = {u["resource"]: u for u in research["status"]["usage"]}
    assert usage["nvidia.com/gpu"]["nominal"] == "8" and "used" in usage["nvidia.com/gpu"]
    # Users see what happened.
    events = (
        client.CoreV1Api(cluster.api)
        .list_namespaced_event("research", field_selector="involvedObject.name=llama-finetune")
        .items
    )
    assert {"Completed"} <= {e.reason for e in events}


def _job(name: str, namespace: str, queue: str, priority_class: str, duration: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AIJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "queue": queue,
            "priorityClassName": priority_class,
            "placement": {"requiredSites": ["central"]},
            "tasks": [
                {
                    "name": "worker",
                    "replicas": 1,
                    "devices": {"vendor": "nvidia", "model": "H100-80GB", "count": 8},
                    "template": {
                        "metadata": {"annotations": {"motherboard.io/simulated-duration": duration}},
                        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
                    },
                }
            ],
        },
    }


def test_a_high_priority_job_preempts_a_low_priority_one_whose_aijob_shows_preempted(
    system: Cluster, namespace: str
) -> None:
    cluster = system
    api = custom(cluster)
    scheduling = client.SchedulingV1Api(cluster.api)
    for name, value in (("e2e-low", 10), ("e2e-high", 1000)):
        body = client.V1PriorityClass(metadata=client.V1ObjectMeta(name=name), value=value)
        try:
            scheduling.create_priority_class(body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    queue = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Queue",
        "metadata": {"name": namespace},
        "spec": {"namespaces": [namespace], "quotas": [{"resource": "nvidia.com/gpu", "nominal": 8}]},
    }
    api.create_cluster_custom_object(GROUP, VERSION, "queues", queue)
    try:
        create: Callable[[dict[str, Any]], Any] = lambda body: api.create_namespaced_custom_object(  # noqa: E731
            GROUP, VERSION, namespace, "aijobs", body
        )
        wait_for("the webhook to see the queue", lambda: _accepted(cluster, namespace), timeout=30)
        create(_job("low", namespace, namespace, "e2e-low", "600s"))
        wait_for("low running", lambda: _phase(api, namespace, "low") == "Running", timeout=90)
        create(_job("high", namespace, namespace, "e2e-high", "600s"))
        wait_for("high running", lambda: _phase(api, namespace, "high") == "Running", timeout=120)
        low = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "aijobs", "low")
        assert conditions(low).get("Preempted") == "True", low["status"]
        assert low["status"]["preemptions"] >= 1 and low["status"]["phase"] in {"Preempted", "Queued"}
    finally:
        delete_queue(api, namespace, namespace)


def _phase(api: client.CustomObjectsApi, namespace: str, name: str) -> str | None:
    job: Any = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "aijobs", name)
    return (job.get("status") or {}).get("phase")


def _accepted(cluster: Cluster, namespace: str) -> bool:
    probe = _job("probe", namespace, namespace, "e2e-low", "1s")
    result = cluster.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe), check=False)
    return result.returncode == 0
