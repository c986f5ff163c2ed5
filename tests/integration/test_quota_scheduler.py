"""Quota semantics through the real API server and the scheduler process (issue 14, items 1 and 2).

The demo profile has 32 whole GPUs (4 H100 nodes x 8). Queues are created directly (no operator here, so
no webhook): a queue with a missing parent can exist, as it does when a parent is deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.conftest import Cluster
from tests.integration.test_operator import install_crds, wait_for
from tests.integration.test_scheduler import GROUP, VERSION, Pods, SchedulerProcess, pod

Obj = dict[str, Any]


class Queues:
    """Cluster-scoped Queues named after the test (unique per run), deleted children first at the end."""

    def __init__(self, cluster: Cluster, ns: str) -> None:
        self.custom = client.CustomObjectsApi(cluster.api)
        self.ns, self.suffix = ns, uuid.uuid4().hex[:5]
        self.created: list[str] = []

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def create(self, base: str, gpus: int, parent: str | None = None, *, leaf: bool = True) -> str:
        spec: Obj = {"quotas": [{"resource": "nvidia.com/gpu", "nominal": gpus}]}
        if leaf:
            spec["namespaces"] = [self.ns]
        if parent is not None:
            spec["parent"] = self.name(parent)
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Queue", "metadata": {"name": self.name(base)}}
        self.custom.create_cluster_custom_object(GROUP, VERSION, "queues", {**body, "spec": spec})
        self.created.append(self.name(base))
        return self.name(base)

    def delete_all(self) -> None:
        for name in reversed(self.created):
            self.custom.delete_cluster_custom_object(GROUP, VERSION, "queues", name)


@pytest.fixture
def setup(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[tuple[Pods, Queues]]:
    install_crds(cluster)
    pods, queues = Pods(cluster, namespace), Queues(cluster, namespace)
    proc = SchedulerProcess(cluster.kubeconfig, tmp_path / "scheduler.log", "--no-leader-elect").start()
    try:
        wait_for("scheduler ready", lambda: "ok" in proc.probe(), timeout=60)
        yield pods, queues
    finally:
        proc.stop()
        print(proc.log.read_text()[-3000:])
        core = client.CoreV1Api(cluster.api)
        core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        wait_for("pods gone", lambda: not core.list_namespaced_pod(namespace).items, timeout=60)
        queues.delete_all()


def in_queue(name: str, queue: str, gpus: int = 1) -> Obj:
    return pod(name, gpus, labels={"motherboard.io/queue": queue})


def message(pods: Pods, name: str) -> str:
    condition = pods.scheduled_condition(name)
    return str(condition.message) if condition is not None and condition.message else ""


def test_a_parent_nominal_caps_its_children_together(setup: tuple[Pods, Queues]) -> None:
    # Before: the parent's 4 GPUs were added to its children's 2 + 2, and team a alone ran 6 (8 possible).
    pods, queues = setup
    queues.create("org", 4, leaf=False)
    team = queues.create("a", 2, "org")
    queues.create("b", 2, "org")
    pods.create(*(in_queue(f"p{i}", team) for i in range(6)))
    wait_for("4 pods bound", lambda: len(pods.bound("p")) == 4, timeout=60)
    waiting = next(p.metadata.name for p in pods.all() if not p.spec.node_name)
    text = wait_for("the quota reason", lambda: message(pods, waiting), timeout=30)
    org = queues.name("org")
    assert text == (
        f"queue {team} has 0 GPUs free, {pods.ns}/{waiting} needs 1 GPU: its parent queue {org} uses 4 GPUs "
        f"of its nominal 4 GPUs"
    )
    assert len(pods.bound("p")) == 4, "never more than the parent's nominal"


def test_a_queue_whose_parent_is_missing_stops_only_its_own_subtree(setup: tuple[Pods, Queues]) -> None:
    # Before: one missing parent made the scheduler keep root queues only, and a job of an unrelated
    # tree waited with "queue team-x does not exist".
    pods, queues = setup
    queues.create("org-x", 2, leaf=False)
    healthy = queues.create("team-x", 1, "org-x")
    orphan = queues.create("team-y", 1, "ghost")
    pods.create(in_queue("healthy", healthy), in_queue("orphan", orphan))
    wait_for("the healthy tree's pod bound", lambda: pods.bound("healthy"), timeout=60)
    text = wait_for("the orphan's reason", lambda: message(pods, "orphan"), timeout=30)
    assert text == f"queue {orphan} admits nothing: its parent queue {queues.name('ghost')} does not exist"


def test_preferred_sites_decide_where_a_pod_goes(setup: tuple[Pods, Queues]) -> None:
    # Before: placement.preferredSites was never read, and node order put the pod in the central site.
    pods, _ = setup
    preferred = pod("edgy", annotations={"motherboard.io/placement": '{"preferredSites": ["edge-east"]}'})
    pods.create(preferred)
    (bound,) = wait_for("the pod bound", lambda: pods.bound("edgy"), timeout=60)
    assert bound.spec.node_name.startswith("edge-east"), bound.spec.node_name


def test_an_elastic_gang_starts_with_what_the_quota_allows(setup: tuple[Pods, Queues]) -> None:
    # 8 pods x 4 GPUs, minAvailable 1, quota 28 GPUs on an idle cluster. Before: 0 pods ran ("needs
    # 32000m, 28000m free"); partial admission runs 7 and the 8th waits for quota.
    pods, queues = setup
    team = queues.create("elastic", 28)
    labels = {"motherboard.io/queue": team}
    pods.create(*(pod(f"e{i}", 4, group="elastic", size=1, labels=labels) for i in range(8)))
    wait_for("7 pods bound", lambda: len(pods.bound("e")) == 7, timeout=60)
    waiting = next(p.metadata.name for p in pods.all() if not p.spec.node_name)
    text = wait_for("the quota reason", lambda: message(pods, waiting), timeout=30)
    assert text == (
        f"queue {team} has 0 GPUs free, {pods.ns}/elastic needs 4 GPUs: queue {team} uses 28 GPUs of its "
        f"nominal 28 GPUs"
    ), (waiting, text)
    assert len(pods.bound("e")) == 7


@pytest.mark.parametrize("nominal", ["10 GB", -2])
def test_the_api_server_says_what_a_quantity_looks_like(cluster: Cluster, nominal: object) -> None:
    # No webhook here: the CRD schema's own message. Before: "should match '^([+]?[0-9.]+)…'" for
    # "10 GB", and -2 was accepted.
    install_crds(cluster)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Queue",
        "metadata": {"name": f"bad-{uuid.uuid4().hex[:6]}"},
        "spec": {"quotas": [{"resource": "memory", "nominal": nominal}]},
    }
    with pytest.raises(client.exceptions.ApiException) as refused:
        client.CustomObjectsApi(cluster.api).create_cluster_custom_object(GROUP, VERSION, "queues", body)
    assert (
        f"'{nominal}' is not a quantity: write a number with an optional unit, e.g. 8, 500m or 10Gi"
        in str(refused.value.body)
    ), refused.value.body
    assert "should match" not in str(refused.value.body)
