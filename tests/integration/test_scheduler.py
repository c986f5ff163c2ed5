"""The scheduler process against the real control plane and the demo profile's kwok nodes.

Each test starts ``python -m motherboard.scheduler.service run`` as a subprocess (stopped at the end) and
plays the workload's owner itself: it creates pods with the gang labels the operator would write. The
demo profile has 32 whole GPUs (4 H100 nodes x 8); the T4s at the edge are shared (4 replicas each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import Cluster
from tests.integration.test_operator import free_port, install_crds, wait_for

GROUP, VERSION = "motherboard.io", "v1alpha1"
Obj = dict[str, Any]
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
EDGE_TOLERATION = {"key": "motherboard.io/edge", "operator": "Exists", "effect": "NoSchedule"}


class SchedulerProcess:
    """One scheduler replica; ``stop`` sends a signal to its process group and waits."""

    def __init__(self, kubeconfig: Path, log: Path, *extra: str) -> None:
        self.kubeconfig, self.log, self.extra = kubeconfig, log, extra
        self.health_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SchedulerProcess:
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "motherboard.scheduler.service", "run",
                f"--kubeconfig={self.kubeconfig}", "--metrics-port=0", f"--health-port={self.health_port}",
                *self.extra,
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self

    def probe(self, path: str = "/readyz") -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def ns(cluster: Cluster, namespace: str) -> Iterator[str]:
    """The test namespace; its pods are deleted and *waited for* at the end, so GPUs are free for the next."""
    install_crds(cluster)
    yield namespace
    core = client.CoreV1Api(cluster.api)
    for pod in core.list_namespaced_pod(namespace).items:
        if pod.metadata.finalizers:
            core.patch_namespaced_pod(pod.metadata.name, namespace, {"metadata": {"finalizers": None}})
    core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
    wait_for("pods gone", lambda: not core.list_namespaced_pod(namespace).items, timeout=60)


@pytest.fixture
def scheduler(cluster: Cluster, ns: str, tmp_path: Path) -> Iterator[SchedulerProcess]:
    proc = SchedulerProcess(cluster.kubeconfig, tmp_path / "scheduler.log", "--no-leader-elect").start()
    try:
        wait_for("scheduler ready", lambda: "ok" in proc.probe(), timeout=60)
        yield proc
    finally:
        proc.stop()
        print(proc.log.read_text()[-3000:])


def pod(
    name: str,
    gpus: int = 0,
    *,
    group: str | None = None,
    size: int = 1,
    priority_class: str | None = None,
    resource: str = "nvidia.com/gpu",
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
) -> Obj:
    meta: Obj = {"name": name, "labels": dict(labels or {}), "annotations": dict(annotations or {})}
    if group:
        meta["labels"]["motherboard.io/pod-group"] = group
        meta["annotations"]["motherboard.io/gang-min-available"] = str(size)
    if finalizers:
        meta["finalizers"] = finalizers
    container: Obj = {"name": "main", "image": "busybox"}
    if gpus:
        container["resources"] = {"limits": {resource: str(gpus)}}
    spec: Obj = {
        "schedulerName": "motherboard-scheduler",
        "containers": [container],
        "tolerations": [GPU_TOLERATION, EDGE_TOLERATION],
    }
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


class Pods:
    def __init__(self, cluster: Cluster, ns: str) -> None:
        self.core, self.ns = client.CoreV1Api(cluster.api), ns
        self.custom = client.CustomObjectsApi(cluster.api)

    def create(self, *pods: Obj) -> None:
        for p in pods:
            self.core.create_namespaced_pod(self.ns, p)

    def get(self, name: str) -> client.V1Pod:
        return self.core.read_namespaced_pod(name, self.ns)

    def all(self) -> list[client.V1Pod]:
        return list(self.core.list_namespaced_pod(self.ns).items)

    def bound(self, prefix: str = "") -> list[client.V1Pod]:
        return [p for p in self.all() if p.metadata.name.startswith(prefix) and p.spec.node_name]

    def scheduled_condition(self, name: str) -> Any:
        conditions = self.get(name).status.conditions or []
        return next((c for c in conditions if c.type == "PodScheduled"), None)

    def events(self, name: str) -> list[Any]:
        selector = f"involvedObject.name={name}"
        return list(self.core.list_namespaced_event(self.ns, field_selector=selector).items)

    def queue(self, name: str, gpus: int, **spec: Any) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Queue",
            "metadata": {"name": name},
            "spec": {
                "namespaces": [self.ns],
                "quotas": [{"resource": "nvidia.com/gpu", "nominal": gpus}],
                **spec,
            },
        }
        self.custom.create_cluster_custom_object(GROUP, VERSION, "queues", body)


@pytest.fixture
def pods(cluster: Cluster, ns: str) -> Iterator[Pods]:
    api = Pods(cluster, ns)
    yield api
    for q in api.custom.list_cluster_custom_object(GROUP, VERSION, "queues")["items"]:
        if ns in q["spec"].get("namespaces", []):
            api.custom.delete_cluster_custom_object(GROUP, VERSION, "queues", q["metadata"]["name"])


def assignment(p: client.V1Pod) -> Obj:
    return json.loads(p.metadata.annotations["motherboard.io/device-assignment"])


def assert_consistent(pods: list[client.V1Pod], nodes: dict[str, Obj]) -> None:
    """Every bound pod's assignment names its node and devices that node has; no whole device twice."""
    used: Counter[tuple[str, str]] = Counter()
    for p in pods:
        if not p.spec.node_name or not (p.spec.containers[0].resources.limits or {}):
            continue
        a = assignment(p)
        assert a["node"] == p.spec.node_name, (
            f"{p.metadata.name} assigned to {a['node']}, bound to {p.spec.node_name}"
        )
        inventory = json.loads(
            nodes[p.spec.node_name]["metadata"]["annotations"]["motherboard.io/device-inventory"]
        )
        ids = {d["id"] for d in inventory["devices"]}
        for c in a["containers"]:
            for d in c["devices"]:
                assert d["id"] in ids, f"{d['id']} is not on {p.spec.node_name}"
                used[(p.spec.node_name, d["id"])] += d["milli"]
    over = {k: v for k, v in used.items() if v > 1000}
    assert not over, f"devices over-committed: {over}"


def node_objects(cluster: Cluster) -> dict[str, Obj]:
    items = client.CoreV1Api(cluster.api).list_node().items
    return {n.metadata.name: cluster.api.sanitize_for_serialization(n) for n in items}


def test_a_gang_of_8_gpu_pods_binds_whole_and_an_impossible_gang_binds_nothing(
    cluster: Cluster, pods: Pods, scheduler: SchedulerProcess
) -> None:
    pods.create(*(pod(f"big-{i}", 5, group="big", size=8) for i in range(8)))  # 40 GPUs > 32 in the cluster
    pods.create(*(pod(f"gang-{i}", 4, group="gang", size=8) for i in range(8)))  # exactly the 32
    wait_for("the gang bound", lambda: len(pods.bound("gang-")) == 8, timeout=60)
    assert_consistent(pods.bound(), node_objects(cluster))
    message = wait_for(
        "the big gang's reason", lambda: (c := pods.scheduled_condition("big-0")) and c.message
    )
    assert "gang needs 8 pods but" in message and "nodes are available" in message, message
    time.sleep(2)
    assert pods.bound("big-") == [], "no member of an impossible gang may be bound"


def test_a_fractional_pod_gets_a_share_of_a_shareable_device_on_its_node(
    cluster: Cluster, pods: Pods, scheduler: SchedulerProcess
) -> None:
    request = {
        "vendor": "nvidia",
        "model": "T4",
        "sharing": {"mode": "Fraction", "fraction": 0.25, "memory": "4Gi"},
    }
    annotations = {"motherboard.io/device-request": json.dumps(request)}
    pods.create(
        *(pod(f"share-{i}", 1, resource="nvidia.com/gpu.shared", annotations=annotations) for i in range(5))
    )
    bound = wait_for(
        "shares bound", lambda: len(pods.bound("share-")) == 5 and pods.bound("share-"), timeout=60
    )
    nodes = node_objects(cluster)
    assert_consistent(bound, nodes)
    for p in bound:
        (container,) = assignment(p)["containers"]
        assert container["resource"] == "nvidia.com/gpu.shared"
        (device,) = container["devices"]
        assert device["milli"] == 250 and device["memoryMiB"] == 4096
        inventory = json.loads(
            nodes[p.spec.node_name]["metadata"]["annotations"]["motherboard.io/device-inventory"]
        )
        shared = {d["id"] for d in inventory["devices"] if d.get("shareReplicas")}
        assert device["id"] in shared


def test_an_unschedulable_pod_says_why_in_its_condition_and_an_event(
    cluster: Cluster, pods: Pods, scheduler: SchedulerProcess
) -> None:
    model = json.dumps({"vendor": "nvidia", "model": "B200"})
    pods.create(pod("nowhere", 1, annotations={"motherboard.io/device-request": model}))
    pods.create(pod("lost", 1, labels={"motherboard.io/queue": "no-such-queue"}))
    condition = wait_for("a reason", lambda: pods.scheduled_condition("nowhere"))
    assert condition.status == "False" and condition.reason == "Unschedulable"
    assert condition.message.startswith("0/") and "nodes are available" in condition.message
    reasons = wait_for("an event", lambda: [e.reason for e in pods.events("nowhere")])
    assert "FailedScheduling" in reasons
    lost = wait_for("the queue reason", lambda: pods.scheduled_condition("lost"))
    assert lost.message == "queue no-such-queue does not exist"


def test_a_high_priority_gang_preempts_a_low_priority_one_in_its_queue(
    cluster: Cluster, pods: Pods, scheduler: SchedulerProcess
) -> None:
    scheduling = client.SchedulingV1Api(cluster.api)
    for name, value in (("mb-test-low", 100), ("mb-test-high", 1000)):
        try:
            scheduling.create_priority_class(
                client.V1PriorityClass(metadata=client.V1ObjectMeta(name=name), value=value)
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
    pods.queue(pods.ns, gpus=8)
    keep = ["motherboard.io/test-keep"]  # holds the victims in Terminating so the test can read them
    pods.create(
        *(
            pod(f"low-{i}", 4, group="low", size=2, priority_class="mb-test-low", finalizers=keep)
            for i in range(2)
        )
    )
    wait_for("low bound", lambda: len(pods.bound("low-")) == 2, timeout=60)
    pods.create(*(pod(f"high-{i}", 4, group="high", size=2, priority_class="mb-test-high") for i in range(2)))
    victims = wait_for(
        "victims evicted",
        lambda: all(pods.get(f"low-{i}").metadata.deletion_timestamp for i in range(2)),
        timeout=60,
    )
    assert victims
    for i in range(2):
        disruption = next(c for c in pods.get(f"low-{i}").status.conditions if c.type == "DisruptionTarget")
        assert disruption.status == "True" and disruption.reason == "PreemptionByScheduler"
        assert "high" in disruption.message
    wait_for("high bound", lambda: len(pods.bound("high-")) == 2, timeout=60)


def test_sigkill_mid_run_then_restart_binds_no_pod_twice_and_leaves_no_half_gang(
    cluster: Cluster, pods: Pods, scheduler: SchedulerProcess
) -> None:
    gangs = {f"g{g}": 4 for g in range(6)}
    for g, size in gangs.items():
        pods.create(*(pod(f"{g}-{i}", 1, group=g, size=size) for i in range(size)))
    pods.create(*(pod(f"cpu-{i}") for i in range(20)))
    wait_for("first binding", pods.bound, timeout=60)
    scheduler.stop(signal.SIGKILL)
    scheduler.start()
    total = sum(gangs.values()) + 20
    wanted = {
        f"{g}-{i}": pod(f"{g}-{i}", 1, group=g, size=size) for g, size in gangs.items() for i in range(size)
    }
    wanted |= {f"cpu-{i}": pod(f"cpu-{i}") for i in range(20)}
    recreated: set[str] = set()

    def owner_recreates_and_everything_binds() -> bool:
        # A kill inside a gang's binding leaves it half bound; the restarted scheduler deletes its bound
        # members (they cannot complete: a pending member carries no plan) and their owner recreates them,
        # which is the test's part here (these pods have no controller). The gang is then scheduled whole.
        present = {p.metadata.name for p in pods.all()}
        for name in sorted(wanted.keys() - present):
            pods.create(wanted[name])
            recreated.add(name)
        return len(pods.bound()) == total

    wait_for("everything bound after restart", owner_recreates_and_everything_binds, timeout=120)
    assert all(not name.startswith("cpu-") for name in recreated), recreated  # only half gangs are undone
    bound = pods.bound()
    assert len({p.metadata.name for p in bound}) == total
    assert_consistent(bound, node_objects(cluster))
    uids = Counter(p.metadata.uid for p in bound)
    assert max(uids.values()) == 1


def test_two_replicas_elect_one_leader_and_the_standby_takes_over(
    cluster: Cluster, pods: Pods, ns: str, tmp_path: Path
) -> None:
    lease = [f"--lease-namespace={ns}", "--lease-duration=4"]
    replicas = [
        SchedulerProcess(cluster.kubeconfig, tmp_path / f"r{i}.log", *lease).start() for i in range(2)
    ]
    try:
        # Under load the second replica may still be syncing its caches when the first wins the Lease.
        wait_for(
            "one leader and one standby",
            lambda: (
                sorted(
                    "leader" if "leader" in r.probe() else "standby" if "standby" in r.probe() else "?"
                    for r in replicas
                )
                == ["leader", "standby"]
            ),
            timeout=60,
        )
        leader = next(r for r in replicas if "leader" in r.probe())
        standby = next(r for r in replicas if r is not leader)
        holder = client.CoordinationV1Api(cluster.api).read_namespaced_lease("motherboard-scheduler", ns)
        assert holder.spec.holder_identity.endswith(f"_{leader.proc.pid}")  # type: ignore[union-attr]
        pods.create(pod("before"))
        wait_for("bound by the leader", lambda: pods.bound("before"), timeout=30)
        leader.stop(signal.SIGKILL)
        wait_for("the standby leads", lambda: "leader" in standby.probe(), timeout=30)
        pods.create(pod("after"))
        wait_for("bound by the new leader", lambda: pods.bound("after"), timeout=30)
    finally:
        for r in replicas:
            r.stop()
