"""SIGKILL inside a gang wave's binding window, at a chosen binding (a fault-injection hook, not luck), then
the invariants from the API server's view once the system settled.

Before the fix, a scheduler killed 2-3 s into a wave of 4-pod gangs at ``--qps=5`` left gangs half bound:
the bound members ran alone and finished, the job waited forever for "4 of 4 pods"; the restarted
scheduler crashed in ``tree.assume`` ("already admitted") or left recovered gangs Pending.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from kubernetes import client

from motherboard.devcluster.invariants import violations
from motherboard.scheduler.service.api import KILL_AFTER_BINDS_ENV
from tests.conftest import Cluster
from tests.faults.helpers import GROUP, VERSION, Operator, create, job_manifest, remove_webhook_configurations
from tests.integration.test_operator import delete_queue, install_crds, wait_for, webhook_serving
from tests.integration.test_scheduler import SchedulerProcess

GANGS, SIZE = 6, 4
SETTLE_SECONDS = 240


@pytest.fixture(scope="module")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    install_crds(cluster)
    proc = Operator(cluster, tmp_path_factory.mktemp("kills-operator") / "operator.log")
    proc.start()
    try:
        wait_for("the operator's webhook", lambda: webhook_serving(cluster), timeout=90)
        yield proc
    finally:
        proc.stop()
        remove_webhook_configurations(cluster)
        print(proc.tail(40))


@pytest.fixture
def queue(cluster: Cluster, namespace: str, operator: Operator) -> Iterator[str]:
    """A Queue serving the namespace: the gangs are charged in the quota tree (where "already admitted" was)."""
    custom = client.CustomObjectsApi(cluster.api)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Queue",
        "metadata": {"name": namespace},
        "spec": {"namespaces": [namespace], "quotas": [{"resource": "nvidia.com/gpu", "nominal": 64}]},
    }
    custom.create_cluster_custom_object(GROUP, VERSION, "queues", body)
    try:
        yield namespace
    finally:
        delete_queue(custom, namespace, namespace)  # its jobs first: the webhook refuses a queue jobs hold


def listed(cluster: Cluster, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    custom, core = client.CustomObjectsApi(cluster.api), client.CoreV1Api(cluster.api)
    jobs = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "aijobs")["items"]
    raw = core.list_namespaced_pod(namespace, _preload_content=False)
    pods = json.loads(raw.data)["items"]
    return jobs, pods


def settled(cluster: Cluster, namespace: str) -> bool:
    jobs, _ = listed(cluster, namespace)
    return len(jobs) == GANGS and all(
        (j.get("status") or {}).get("phase") in ("Succeeded", "Failed") for j in jobs
    )


def describe(cluster: Cluster, namespace: str) -> str:
    """The jobs' phases and every pod's incarnation and state: what a timed-out wait leaves to read."""
    jobs, pods = listed(cluster, namespace)
    lines = [
        f"job {j['metadata']['name']}: {(j.get('status') or {}).get('phase')} "
        f"{(j.get('status') or {}).get('message', '')!r}"
        for j in jobs
    ]
    for p in sorted(pods, key=lambda p: p["metadata"]["name"]):
        meta = p["metadata"]
        lines.append(
            f"pod {meta['name']} uid={meta['uid'][:8]} attempt={(meta.get('labels') or {}).get('motherboard.io/attempt')} "
            f"node={p['spec'].get('nodeName')} phase={(p.get('status') or {}).get('phase')} "
            f"deleting={bool(meta.get('deletionTimestamp'))}"
        )
    return "\n".join(lines)


def scheduler(
    tmp_path: Path, cluster: Cluster, name: str, kill_after: int = 0, lease_namespace: str = ""
) -> SchedulerProcess:
    # --qps=5: the binding window of a wave lasts seconds, as in the report; the kill lands inside it.
    election = [f"--lease-namespace={lease_namespace}"] if lease_namespace else ["--no-leader-elect"]
    proc = SchedulerProcess(cluster.kubeconfig, tmp_path / f"{name}.log", *election, "--qps=5")
    env = {KILL_AFTER_BINDS_ENV: str(kill_after)} if kill_after else {}
    with mock.patch.dict(os.environ, env):
        proc.start()
    return proc


@pytest.mark.parametrize("kill_after", [6], ids=["inside-the-second-gang"])
def test_a_scheduler_killed_inside_a_gang_binding_leaves_no_half_gang(
    cluster: Cluster, operator: Operator, queue: str, tmp_path: Path, kill_after: int
) -> None:
    first = scheduler(tmp_path, cluster, "killed", kill_after)
    wait_for("the scheduler ready", lambda: first.probe().startswith("ok"), timeout=60)
    for i in range(GANGS):
        accepted, error = create(cluster, queue, job_manifest(f"gang-{i}", replicas=SIZE, duration="3s"))
        assert accepted, error
    assert first.proc is not None
    wait_for("the injected SIGKILL", lambda: first.proc is not None and first.proc.poll() is not None, 90)
    assert first.proc.returncode == -signal.SIGKILL
    core = client.CoreV1Api(cluster.api)
    bound_at_kill = sum(bool(p.spec.node_name) for p in core.list_namespaced_pod(queue).items)
    assert kill_after <= bound_at_kill < GANGS * SIZE, "the kill must land inside the wave"
    assert bound_at_kill % SIZE, f"{bound_at_kill} pods bound: the kill must leave a gang half bound"
    time.sleep(5)  # the half gang's bound members run alone and finish (3 s) before the restart
    second = scheduler(tmp_path, cluster, "restarted")
    try:
        try:
            wait_for("every job finished", lambda: settled(cluster, queue), timeout=SETTLE_SECONDS)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n{describe(cluster, queue)}\noperator:\n{operator.tail(60)}"
            ) from None
        jobs, pods = listed(cluster, queue)
        assert violations(jobs, pods) == []
        assert {j["status"]["phase"] for j in jobs} == {"Succeeded"}
        assert second.proc is not None and second.proc.poll() is None, "the restarted scheduler crashed"
        log = second.log.read_text()
        assert "already admitted" not in log and "half bound" in log, log[-3000:]
    finally:
        second.stop()
        print(second.log.read_text()[-3000:])


def bound_count(cluster: Cluster, namespace: str) -> int:
    return sum(
        bool(p.spec.node_name) for p in client.CoreV1Api(cluster.api).list_namespaced_pod(namespace).items
    )


def leader_and_standby(
    tmp_path: Path, cluster: Cluster, namespace: str, kill_after: int = 0
) -> list[SchedulerProcess]:
    """Two replicas electing a leader on a Lease in ``namespace`` (6 s, the default); the first leads."""
    leader = scheduler(tmp_path, cluster, "leader", kill_after, lease_namespace=namespace)
    wait_for("the first replica leads", lambda: leader.probe() == "ok (leader)\n", timeout=60)
    standby = scheduler(tmp_path, cluster, "standby", lease_namespace=namespace)
    wait_for("the second replica stands by", lambda: standby.probe() == "ok (standby)\n", timeout=60)
    return [leader, standby]


def test_the_leader_killed_inside_a_gang_binding_hands_over_to_the_standby_under_load(
    cluster: Cluster, queue: str, tmp_path: Path
) -> None:
    """Leader failover under load: the leader SIGKILLed at its 6th binding during a burst of gangs; the
    warm standby takes the Lease when it expires, repairs a half gang if the kill left one, binds the rest."""
    leader, standby = leader_and_standby(tmp_path, cluster, queue, kill_after=6)
    try:
        for i in range(GANGS):
            accepted, error = create(cluster, queue, job_manifest(f"gang-{i}", replicas=SIZE, duration="3s"))
            assert accepted, error
        wait_for(
            "the injected SIGKILL", lambda: leader.proc is not None and leader.proc.poll() is not None, 90
        )
        killed = time.monotonic()
        assert leader.proc is not None and leader.proc.returncode == -signal.SIGKILL
        at_kill = bound_count(cluster, queue)
        assert 0 < at_kill < GANGS * SIZE, "the kill must land inside the burst"
        # Bindings the leader sent before it died may still land: only binds after the takeover count.
        wait_for("the standby leads", lambda: standby.probe() == "ok (leader)\n", timeout=60)
        at_takeover = bound_count(cluster, queue)  # anything bound from now on, the standby bound
        wait_for("the standby's first bind", lambda: bound_count(cluster, queue) > at_takeover, timeout=60)
        first_bind = time.monotonic() - killed
        print(f"leader SIGKILLed -> first bind by the standby: {first_bind:.1f} s")
        # The 6 s Lease expires, one retry (0.86 s) later the standby leads; load adds its start-up work.
        assert first_bind < 15, f"the standby bound its first pod {first_bind:.1f} s after the kill"
        assert standby.probe() == "ok (leader)\n"
        wait_for("every job finished", lambda: settled(cluster, queue), timeout=SETTLE_SECONDS)
        jobs, pods = listed(cluster, queue)
        assert violations(jobs, pods) == []
        assert {j["status"]["phase"] for j in jobs} == {"Succeeded"}
        assert standby.proc is not None and standby.proc.poll() is None, "the new leader crashed"
        log = standby.log.read_text()
        assert "already admitted" not in log, log[-3000:]
        print(f"{at_kill} pods bound at the kill; the new leader repaired a half gang: {'half bound' in log}")
    finally:
        for replica in (leader, standby):
            replica.stop()
        print(standby.log.read_text()[-3000:])


def test_an_orderly_stop_releases_the_lease_and_the_standby_leads_at_once(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    leader, standby = leader_and_standby(tmp_path, cluster, namespace)
    try:
        started = time.monotonic()
        leader.stop()  # SIGTERM
        assert leader.proc is not None and leader.proc.returncode == 0
        wait_for("the standby leads", lambda: standby.probe() == "ok (leader)\n", timeout=30)
        took = time.monotonic() - started
        print(f"leader SIGTERMed -> standby leads: {took:.1f} s")
        # Unreleased, the Lease (renewed at most 0.86 s before the SIGTERM) would last 5.1 s more at least.
        assert took < 5, f"{took:.1f} s: the standby waited for the Lease to expire, it was not released"
        lease = client.CoordinationV1Api(cluster.api).read_namespaced_lease(
            "motherboard-scheduler", namespace
        )
        assert lease.spec.holder_identity is not None
        assert standby.proc is not None and lease.spec.holder_identity.endswith(f"_{standby.proc.pid}")
    finally:
        for replica in (leader, standby):
            replica.stop()
