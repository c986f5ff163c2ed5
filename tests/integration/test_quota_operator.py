"""Queue admission and status through the real API server and the operator (issue 14, items 2 and 5)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import Cluster
from tests.integration.test_operator import (
    GROUP,
    VERSION,
    OperatorProcess,
    free_port,
    has_webhooks,
    install_crds,
    make_job,
    wait_for,
    webhook_serving,
)
from tests.integration.test_scheduler import SchedulerProcess

Obj = dict[str, Any]
UNPROCESSABLE = 422


@pytest.fixture(scope="module")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    install_crds(cluster)
    proc = OperatorProcess(
        cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "operator.log", free_port()
    )
    proc.start()
    try:
        wait_for("the webhook", lambda: webhook_serving(cluster) and has_webhooks(cluster), timeout=60)
        yield proc
    finally:
        proc.stop()
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            cluster.kubectl("delete", kind, GROUP, "--ignore-not-found", check=False)
        print(proc.log.read_text()[-4000:])


class Queues:
    def __init__(self, cluster: Cluster, ns: str) -> None:
        self.custom = client.CustomObjectsApi(cluster.api)
        self.ns, self.suffix = ns, uuid.uuid4().hex[:5]
        self.created: list[str] = []

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def create(self, base: str, gpus: int, parent: str | None = None) -> str:
        spec: Obj = {"quotas": [{"resource": "nvidia.com/gpu", "nominal": gpus}]}
        if parent is None:
            spec["namespaces"] = []
        else:
            spec["parent"], spec["namespaces"] = self.name(parent), [self.ns]
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Queue", "metadata": {"name": self.name(base)}}
        # The webhook learns of a new parent from its watch: retry a child refused for a missing parent.
        wait_for(f"queue {base} created", lambda: self._try_create({**body, "spec": spec}), timeout=30)
        self.created.append(self.name(base))
        return self.name(base)

    def _try_create(self, body: Obj) -> bool:
        try:
            self.custom.create_cluster_custom_object(GROUP, VERSION, "queues", body)
        except ApiException as exc:
            if "does not exist" not in str(exc.body):
                raise
            return False
        return True

    def delete(self, name: str) -> None:
        self.custom.delete_cluster_custom_object(GROUP, VERSION, "queues", name)

    def get(self, name: str) -> Obj:
        return dict(self.custom.get_cluster_custom_object(GROUP, VERSION, "queues", name))

    def cleanup(self) -> None:
        for name in reversed(self.created):
            try:
                self.delete(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


@pytest.fixture
def queues(cluster: Cluster, namespace: str, operator: OperatorProcess) -> Iterator[Queues]:
    api = Queues(cluster, namespace)
    yield api
    api.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, "aijobs")
    client.CoreV1Api(cluster.api).delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
    api.cleanup()


def test_deleting_a_parent_queue_is_refused_while_it_has_children(queues: Queues) -> None:
    # Before: the DELETE went through, and every queue below it stopped admitting.
    org = queues.create("org", 4)
    team = queues.create("team", 2, "org")
    with pytest.raises(ApiException) as refused:
        queues.delete(org)
    assert refused.value.status == UNPROCESSABLE
    assert f"queue '{org}' is the parent of {team}: delete or re-parent its children first" in str(
        refused.value.body
    )
    assert queues.get(org)["metadata"]["name"] == org
    queues.delete(team)
    wait_for("the webhook to see the child gone", lambda: _deleted(queues, org), timeout=30)


def _deleted(queues: Queues, name: str) -> bool:
    try:
        queues.delete(name)
    except ApiException as exc:
        if exc.status == UNPROCESSABLE:
            return False
        raise
    return True


def gpu_node(cluster: Cluster) -> tuple[str, list[str]]:
    """A node with whole NVIDIA GPUs, and its device ids (from the published inventory)."""
    for node in client.CoreV1Api(cluster.api).list_node().items:
        raw = (node.metadata.annotations or {}).get("motherboard.io/device-inventory")
        devices = json.loads(raw)["devices"] if raw else []
        ids = [d["id"] for d in devices if d.get("vendor") == "nvidia" and not d.get("partitions")]
        if len(ids) >= 6:
            return node.metadata.name, ids
    raise AssertionError("no node with 6 whole GPUs")


def bound_pod(name: str, queue: str, node: str, devices: list[str]) -> Obj:
    assignment = {
        "v": 1,
        "node": node,
        "containers": [
            {
                "name": "main",
                "resource": "nvidia.com/gpu",
                "devices": [{"id": d, "milli": 1000} for d in devices],
            }
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"motherboard.io/queue": queue},
            "annotations": {"motherboard.io/device-assignment": json.dumps(assignment)},
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "main", "image": "busybox"}],
            "tolerations": [{"operator": "Exists"}],
        },
    }


def test_queue_status_counts_one_loan_once(cluster: Cluster, queues: Queues) -> None:
    # a borrows 2 GPUs from b and c, which have 4 idle each. Before: each reported lent 2 (4 in all).
    queues.create("org", 12)
    a, b, c = (queues.create(x, 4, "org") for x in ("a", "b", "c"))
    node, ids = gpu_node(cluster)
    client.CoreV1Api(cluster.api).create_namespaced_pod(queues.ns, bound_pod("big", a, node, ids[:6]))

    def lent() -> dict[str, str] | None:
        usage = {q: (queues.get(q).get("status") or {}).get("usage") or [] for q in (a, b, c)}
        if any(not rows or rows[0]["used"] == "0" for q, rows in usage.items() if q == a):
            return None
        return {q: rows[0]["lent"] for q, rows in usage.items() if rows}

    assert wait_for("queue status with the loan", lent, timeout=60) == {a: "0", b: "1", c: "1"}
    assert (queues.get(a)["status"]["usage"][0]["borrowed"]) == "2"
    # kubectl get shows usage against quota (before: no usage column at all).
    table = cluster.kubectl("get", "mbq", a).stdout.splitlines()
    assert "USED/NOMINAL" in table[0] and "nvidia.com/gpu 6/4 (2 borrowed)" in table[1], table


def job_manifest(name: str, gpus: int, **gang: Any) -> Obj:
    job = make_job(name, replicas=2)
    job["spec"]["tasks"][0]["devices"]["count"] = gpus
    if gang:
        job["spec"]["gang"] = gang
    return job


def job_status(cluster: Cluster, ns: str, name: str) -> Obj:
    job = client.CustomObjectsApi(cluster.api).get_namespaced_custom_object(
        GROUP, VERSION, ns, "aijobs", name
    )
    return dict(job.get("status") or {})


def test_schedule_timeout_fails_a_gang_not_placed_in_time_with_a_reason_and_an_event(
    cluster: Cluster, queues: Queues
) -> None:
    # No scheduler runs: the gang is never placed. Before: scheduleTimeoutSeconds was never read.
    custom = client.CustomObjectsApi(cluster.api)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, queues.ns, "aijobs", job_manifest("late", 1, minAvailable=2, scheduleTimeoutSeconds=3)
    )
    status = wait_for(
        "the job failed",
        lambda: (s := job_status(cluster, queues.ns, "late")).get("phase") == "Failed" and s,
        60,
    )
    assert status["reason"] == "ScheduleTimeout"
    assert status["message"].startswith("the gang was not placed within scheduleTimeoutSeconds=3 (0 of 2")
    unschedulable = next(c for c in status["conditions"] if c["type"] == "Unschedulable")
    assert (unschedulable["status"], unschedulable["reason"]) == ("True", "ScheduleTimeout")
    events = client.CoreV1Api(cluster.api).list_namespaced_event(
        queues.ns, field_selector="involvedObject.name=late"
    )
    assert "ScheduleTimeout" in {e.reason for e in events.items}
    header, row = cluster.kubectl("get", "aij", "late", "-n", queues.ns).stdout.splitlines()
    assert {"PODS", "REASON"} <= set(header.split()) and "ScheduleTimeout" in row.split(), (header, row)


def test_kubectl_get_devicepools_shows_allocated_and_free(cluster: Cluster, queues: Queues) -> None:
    name = queues.name("h100")
    pool = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DevicePool",
        "metadata": {"name": name},
        "spec": {"vendor": "nvidia", "model": "H100-80GB"},
    }
    custom = client.CustomObjectsApi(cluster.api)
    custom.create_cluster_custom_object(GROUP, VERSION, "devicepools", pool)
    try:
        table = wait_for(
            "pool status",
            lambda: (t := cluster.kubectl("get", "dp", name).stdout.splitlines()) and "/" in t[1] and t,
        )
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, "devicepools", name)
    header = table[0].split()
    assert "ALLOCATED" in header and "FREE" in header, table
    assert "nvidia.com/gpu" in table[1] and "0/32" in table[1], table


def test_a_job_its_queue_can_never_hold_fails_instead_of_waiting_forever(
    cluster: Cluster, queues: Queues, tmp_path: Path
) -> None:
    # Before: it stayed Queued with "over quota" for ever.
    queues.create("org", 2)
    team = queues.create("team", 2, "org")
    scheduler = SchedulerProcess(cluster.kubeconfig, tmp_path / "scheduler.log", "--no-leader-elect").start()
    try:
        wait_for("scheduler ready", lambda: "ok" in scheduler.probe(), timeout=60)
        job = job_manifest("giant", 4)
        job["spec"]["queue"] = team
        client.CustomObjectsApi(cluster.api).create_namespaced_custom_object(
            GROUP, VERSION, queues.ns, "aijobs", job
        )
        status = wait_for(
            "the job failed",
            lambda: (s := job_status(cluster, queues.ns, "giant")).get("phase") == "Failed" and s,
            60,
        )
    finally:
        scheduler.stop()
    assert status["reason"] == "NeverFits"
    assert status["message"] == (
        f"can never be scheduled as the queues are configured: {queues.ns}/giant can never run in queue {team}: "
        f"it needs 8 GPUs, and the most the queue can ever hold is 2 GPUs (its parent queue "
        f"{queues.name('org')}'s nominal 2 GPUs)"
    )
