"""The operator's store: derived views from watch events, and who is told about a change, and when."""

from __future__ import annotations

from typing import Any

import pytest

from motherboard.api.constants import LABEL_JOB_NAME
from motherboard.api.v1alpha1 import DevicePoolSpec
from motherboard.operator.store import JobKey, Store


def pod(name: str, job: str | None, *, node: str | None = None, phase: str = "Pending") -> dict[str, Any]:
    labels = {LABEL_JOB_NAME: job} if job else {}
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": labels},
        "spec": spec,
        "status": {"phase": phase},
    }


def node(name: str, *, heartbeat: str = "t0", zone: str = "a") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"zone": zone}},
        "status": {
            "allocatable": {"cpu": "8"},
            "conditions": [{"type": "Ready", "lastHeartbeatTime": heartbeat}],
        },
    }


def aijob(name: str, uid: str = "u1") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": uid}, "spec": {"tasks": []}}


class Recorder:
    def __init__(self, store: Store) -> None:
        self.jobs: list[tuple[JobKey, str | None, bool]] = []
        self.statuses = 0
        store.job_listeners.append(lambda key, uid, deleted: self.jobs.append((key, uid, deleted)))
        store.status_listeners.append(self.poke)

    def poke(self) -> None:
        self.statuses += 1


@pytest.fixture
def store() -> Store:
    return Store()


def test_nothing_is_triggered_before_every_kind_is_listed_then_every_job_once(store: Store) -> None:
    seen = Recorder(store)
    store.on_job(aijob("a"), False)
    store.on_pod(pod("a-w-0", "a"), False)
    store.on_node(node("n1"), False)
    assert seen.jobs == [] and seen.statuses == 0
    store.mark_ready()
    assert seen.jobs == [(("ns", "a"), "u1", False)]
    assert seen.statuses == 1


def test_pod_events_keep_the_jobs_pods_and_trigger_its_reconcile(store: Store) -> None:
    store.mark_ready()
    seen = Recorder(store)
    store.on_pod(pod("a-w-0", "a"), False)
    store.on_pod(pod("a-w-1", "a", node="n1", phase="Running"), False)
    store.on_pod(pod("b-w-0", "b"), False)
    assert sorted(p.name for p in store.pods_of(("ns", "a"))) == ["a-w-0", "a-w-1"]
    assert [p.node for p in store.pods_of(("ns", "a")) if p.name == "a-w-1"] == ["n1"]
    store.on_pod(pod("a-w-0", "a"), True)
    assert [p.name for p in store.pods_of(("ns", "a"))] == ["a-w-1"]
    assert [key for key, _, _ in seen.jobs] == [("ns", "a"), ("ns", "a"), ("ns", "b"), ("ns", "a")]


def test_a_preempted_pod_is_remembered_after_its_deletion_until_replaced(store: Store) -> None:
    store.mark_ready()
    victim = pod("a-w-0", "a", node="n1", phase="Running")
    victim["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
    ]
    store.on_pod(victim, True)
    (seen,) = store.pods_of(("ns", "a"))
    assert seen.preempted and seen.gone and seen.deleting
    store.on_pod(pod("a-w-0", "a"), False)  # the next attempt's pod of the same name
    (seen,) = store.pods_of(("ns", "a"))
    assert not seen.gone and not seen.preempted
    store.on_pod(pod("a-w-0", "a"), True)  # an ordinary deletion is forgotten
    assert list(store.pods_of(("ns", "a"))) == []


def test_only_bound_unfinished_pods_count_as_usage_and_only_usage_changes_poke_status(store: Store) -> None:
    store.mark_ready()
    seen = Recorder(store)
    store.on_pod(pod("x", None), False)  # pending: holds nothing
    assert store.usage == {} and seen.statuses == 0
    store.on_pod(pod("x", None, node="n1", phase="Running"), False)
    assert set(store.usage) == {"ns/x"} and seen.statuses == 1
    store.on_pod(pod("x", None, node="n1", phase="Running"), False)  # same holding: no status pass
    assert seen.statuses == 1
    store.on_pod(pod("x", None, node="n1", phase="Succeeded"), False)
    assert store.usage == {} and seen.statuses == 2


def test_node_heartbeats_do_not_poke_status_but_a_label_change_does(store: Store) -> None:
    store.mark_ready()
    seen = Recorder(store)
    store.on_node(node("n1"), False)
    store.on_node(node("n1", heartbeat="t1"), False)
    store.on_node(node("n1", heartbeat="t2"), False)
    assert seen.statuses == 1
    store.on_node(node("n1", heartbeat="t3", zone="b"), False)
    assert seen.statuses == 2 and store.nodes["n1"].labels == {"zone": "b"}
    store.on_node(node("n1"), True)
    assert store.nodes == {} and seen.statuses == 3


def test_a_deleted_job_is_forgotten_but_a_recreated_one_of_the_same_name_is_kept(store: Store) -> None:
    store.mark_ready()
    seen = Recorder(store)
    store.on_job(aijob("a", uid="new"), False)
    store.on_job(aijob("a", uid="old"), True)  # the old incarnation's late DELETED event
    assert store.job(("ns", "a")) is not None
    store.on_job(aijob("a", uid="new"), True)
    assert store.job(("ns", "a")) is None
    assert seen.jobs[-1] == (("ns", "a"), "new", True)


def test_queues_pools_and_namespaces_are_kept_for_the_webhook(store: Store) -> None:
    store.on_queue({"metadata": {"name": "q"}, "spec": {"namespaces": ["ns"]}, "status": {"x": 1}}, False)
    store.on_pool({"metadata": {"name": "p"}, "spec": {"vendor": "nvidia"}}, False)
    store.on_namespace({"metadata": {"name": "ns", "labels": {"team": "a"}}}, False)
    assert store.queues["q"].spec.namespaces == ["ns"]
    assert store.pools == {"p": DevicePoolSpec.model_validate({"vendor": "nvidia"})}
    assert store.namespaces == {"ns": {"team": "a"}}
    store.on_queue({"metadata": {"name": "q"}}, True)
    store.on_pool({"metadata": {"name": "p"}}, True)
    store.on_namespace({"metadata": {"name": "ns"}}, True)
    assert store.queues == {} and store.pools == {} and store.namespaces == {}


def test_an_invalid_pool_or_queue_is_left_out_and_replaces_a_valid_one(store: Store) -> None:
    store.on_pool({"metadata": {"name": "p"}, "spec": {"vendor": "nvidia"}}, False)
    store.on_pool(
        {"metadata": {"name": "p"}, "spec": {"vendor": "nvidia", "sharing": {"mode": "Fraction"}}}, False
    )
    store.on_queue({"metadata": {"name": "q"}, "spec": {"weight": "heavy"}}, False)
    assert store.pools == {} and store.queues == {}
