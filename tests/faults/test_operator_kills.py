"""The operator SIGKILLed inside a reconcile, half-way through creating a gang's pods.

``MOTHERBOARD_FAULT_OPERATOR_KILL_AT_POD_CREATE=3`` lets a 4-pod gang's first two creates reach the API
server, holds back the other two and SIGKILLs the process (:mod:`motherboard.operator.faults`): a job with
some pods created and others not, and no status written. The restarted operator must converge it: the
missing members created once, none twice, the gang placed whole and the job Succeeded.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from kubernetes import client

from motherboard.devcluster.invariants import violations
from motherboard.operator.faults import KILL_AT_POD_CREATE_ENV
from tests.conftest import Cluster
from tests.faults.helpers import GROUP, VERSION, Operator, create, job_manifest, remove_webhook_configurations
from tests.integration.test_operator import install_crds, wait_for, webhook_serving
from tests.integration.test_scheduler import SchedulerProcess

SIZE = 4


@pytest.fixture
def operator(cluster: Cluster, tmp_path: Path) -> Iterator[Operator]:
    install_crds(cluster)
    proc = Operator(cluster, tmp_path / "operator.log", lease_seconds=4)  # the standby takes over quickly
    try:
        yield proc
    finally:
        proc.stop()
        remove_webhook_configurations(cluster)
        print(proc.tail(60))


@pytest.fixture
def scheduler(cluster: Cluster, tmp_path: Path) -> Iterator[SchedulerProcess]:
    proc = SchedulerProcess(cluster.kubeconfig, tmp_path / "scheduler.log", "--no-leader-elect").start()
    try:
        yield proc
    finally:
        proc.stop()


def job_and_pods(cluster: Cluster, namespace: str, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    job = client.CustomObjectsApi(cluster.api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "aijobs", name
    )
    raw = client.CoreV1Api(cluster.api).list_namespaced_pod(
        namespace, label_selector=f"motherboard.io/job-name={name}", _preload_content=False
    )
    return job, list(json.loads(raw.data)["items"])


def test_an_operator_killed_half_way_through_a_gangs_creates_converges_without_duplicates(
    cluster: Cluster, namespace: str, operator: Operator, scheduler: SchedulerProcess
) -> None:
    with mock.patch.dict(os.environ, {KILL_AT_POD_CREATE_ENV: "3"}):
        operator.start()
    wait_for("the operator's webhook", lambda: webhook_serving(cluster), timeout=90)
    wait_for("the scheduler ready", lambda: scheduler.probe().startswith("ok"), timeout=60)
    accepted, error = create(cluster, namespace, job_manifest("gang", replicas=SIZE, duration="3s"))
    assert accepted, error
    wait_for("the injected SIGKILL", lambda: not operator.alive(), timeout=90)
    assert operator.proc is not None and operator.proc.returncode == -signal.SIGKILL, operator.tail(40)
    job, pods = job_and_pods(cluster, namespace, "gang")
    before = {p["metadata"]["uid"] for p in pods}
    assert len(pods) == 2, (
        f"the kill must leave the gang half created: {[p['metadata']['name'] for p in pods]}"
    )
    assert not any(p["spec"].get("nodeName") for p in pods), "a half-created gang must not be placed"

    operator.start()  # what its Deployment does
    wait_for(
        "the job Succeeded",
        lambda: (job_and_pods(cluster, namespace, "gang")[0].get("status") or {}).get("phase") == "Succeeded",
        timeout=180,
    )
    job, pods = job_and_pods(cluster, namespace, "gang")
    assert violations([job], pods) == []
    names = Counter(p["metadata"]["name"] for p in pods)
    assert len(names) == SIZE and set(names.values()) == {1}, names
    assert before <= {p["metadata"]["uid"] for p in pods}, "the members created before the kill were kept"
    assert "fault injection: SIGKILL at pod create 3" in operator.log.read_text()


def test_a_malformed_fault_value_is_named_with_the_fix() -> None:
    from motherboard.operator.faults import kill_at

    for bad in ("0", "three", "-1"):
        with (
            mock.patch.dict(os.environ, {KILL_AT_POD_CREATE_ENV: bad}),
            pytest.raises(ValueError, match=KILL_AT_POD_CREATE_ENV),
        ):
            kill_at()
    with mock.patch.dict(os.environ, {KILL_AT_POD_CREATE_ENV: "2"}):
        assert kill_at() == 2
