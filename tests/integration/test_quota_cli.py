"""`motherboard queue tree|set|pending` and `motherboard explain aijob` against the local control plane.

Usage is read from real bound pods carrying the scheduler's device assignment; a quota edit the webhook
would refuse is refused before anything is written, with the field and the reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from motherboard.api.assignment import AssignedDevice, ContainerAssignment, DeviceAssignment
from motherboard.quota.cli import explain_app, queue_app
from tests.conftest import Cluster
from tests.integration.test_operator import install_crds, make_job, wait_for

app = typer.Typer()
app.add_typer(queue_app, name="queue")  # as motherboard.cli mounts them
app.add_typer(explain_app, name="explain")


@dataclass
class Tenants:
    """A parent queue with two children (unique names per run), one child serving ``namespace``."""

    cluster: Cluster
    namespace: str
    org: str
    a: str
    b: str

    def cli(self, *args: str) -> Any:
        # A wide terminal, so table cells are not wrapped (scripts use -o json).
        return CliRunner().invoke(
            app, [*args, f"--kubeconfig={self.cluster.kubeconfig}"], env={"COLUMNS": "200"}
        )

    def queue(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.cluster.kubectl("get", "queue", name, "-o", "json").stdout))


def queue_manifest(
    name: str, quotas: list[dict[str, str]], parent: str | None = None, ns: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"quotas": quotas}
    if parent:
        spec["parent"] = parent
    if ns:
        spec["namespaces"] = [ns]
    return {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "Queue",
        "metadata": {"name": name},
        "spec": spec,
    }


def bound_pod(
    name: str, node: str, queue: str | None, millis: list[int], job: str | None = None
) -> dict[str, Any]:
    assignment = DeviceAssignment(
        node=node,
        containers=(
            ContainerAssignment(
                name="main",
                resource="nvidia.com/gpu" if millis[0] == 1000 else "nvidia.com/gpu.shared",
                devices=tuple(AssignedDevice(id=f"GPU-{name}-{i}", milli=m) for i, m in enumerate(millis)),
            ),
        ),
    )
    labels = {"motherboard.io/queue": queue} if queue else {}
    if job:
        labels |= {"motherboard.io/job-name": job, "motherboard.io/task-name": "worker"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": assignment.annotations()},
        "spec": {
            "nodeName": node,  # bound at creation, as if the scheduler had bound it
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {"name": "main", "image": "busybox", "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}
            ],
        },
    }


@pytest.fixture(scope="module")
def tenants(cluster: Cluster) -> Iterator[Tenants]:
    install_crds(cluster)
    # Freshly established CRDs answer "storage is (re)initializing" for a moment: wait until they list.
    wait_for(
        "the CRDs to serve", lambda: cluster.kubectl("get", "queues,aijobs", check=False).returncode == 0
    )
    suffix = uuid.uuid4().hex[:6]
    t = Tenants(cluster, f"quota-{suffix}", f"org-{suffix}", f"a-{suffix}", f"b-{suffix}")
    cluster.kubectl("create", "namespace", t.namespace)
    manifests = [
        queue_manifest(t.org, [{"resource": "nvidia.com/gpu", "nominal": "8"}]),
        queue_manifest(t.a, [{"resource": "nvidia.com/gpu", "nominal": "2", "borrowingLimit": "4"},
                             {"resource": "cpu", "nominal": "16"}], parent=t.org, ns=t.namespace),
        queue_manifest(t.b, [{"resource": "nvidia.com/gpu", "nominal": "4"}], parent=t.org),
    ]  # fmt: skip
    for manifest in manifests:
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    node = next(
        n["metadata"]["name"]
        for n in json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        if n["metadata"]["labels"].get("motherboard.io/accelerator-model") == "H100-80GB"
    )
    pods = [
        bound_pod("by-namespace", node, None, [1000, 1000]),  # charged to a through its namespace
        bound_pod("by-label", node, t.a, [250, 250], job="trainer"),  # two 0.25 shares
    ]
    for pod in pods:
        cluster.kubectl("apply", "-n", t.namespace, "-f", "-", stdin=json.dumps(pod))
    try:
        yield t
    finally:
        cluster.kubectl("delete", "namespace", t.namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "queue", t.a, t.b, t.org, "--ignore-not-found", check=False)


def test_tree_shows_the_hierarchy_with_usage_from_bound_pods(tenants: Tenants) -> None:
    result = tenants.cli("queue", "tree", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = {q["name"]: q for q in json.loads(result.output)["queues"]}
    org, a, b = rows[tenants.org], rows[tenants.a], rows[tenants.b]
    assert (org["depth"], a["depth"], b["depth"]) == (0, 1, 1) and a["parent"] == tenants.org
    gpu = {r["resource"]: r for r in a["resources"]}
    # 2 whole GPUs + 2 x 0.25 shares = 2.5 against a nominal of 2: 0.5 borrowed, from org's spare 2 (its 8
    # less its children's 2 + 4), so b lends nothing (docs/quota.md: a parent's spare is lent by nobody).
    assert (gpu["nvidia.com/gpu"]["used"], gpu["nvidia.com/gpu"]["borrowed"]) == ("2.5", "0.5")
    assert gpu["nvidia.com/gpu"]["borrowing_limit"] == "4"
    assert gpu["cpu"]["used"] == "4"
    assert b["resources"][0]["lent"] == "0"
    assert org["resources"][0]["used"] == "2.5"  # a parent uses what its subtree uses
    table = tenants.cli("queue", "tree")
    assert table.exit_code == 0 and tenants.a in table.output and "BORROWED" in table.output


def test_an_invalid_edit_is_refused_with_the_reason_and_nothing_is_written(tenants: Tenants) -> None:
    before = tenants.queue(tenants.a)["spec"]["quotas"]
    result = tenants.cli("queue", "set", tenants.a, "--resource", "nvidia.com/gpu", "--nominal", "6")
    assert result.exit_code == 1
    assert f"children of queue '{tenants.org}' are promised 10 nvidia.com/gpu" in result.output
    assert "nothing written" in result.output
    lending = tenants.cli(
        "queue", "set", tenants.b, "--resource", "nvidia.com/gpu", "--nominal", "4", "--lending-limit", "5"
    )
    assert lending.exit_code == 1 and "lendingLimit: 5 exceeds nominal 4" in lending.output
    root = tenants.cli(
        "queue",
        "set",
        tenants.org,
        "--resource",
        "nvidia.com/gpu",
        "--nominal",
        "8",
        "--borrowing-limit",
        "1",
    )
    assert root.exit_code == 1 and "borrowingLimit: needs a parent" in root.output
    assert tenants.queue(tenants.a)["spec"]["quotas"] == before


def test_a_valid_edit_is_written(tenants: Tenants) -> None:
    result = tenants.cli(
        "queue", "set", tenants.b, "--resource", "nvidia.com/gpu", "--nominal", "3", "--lending-limit", "1"
    )
    assert result.exit_code == 0, result.output
    assert f"queue {tenants.b}: set nvidia.com/gpu nominal 3 (lendingLimit 1)" in result.output
    assert tenants.queue(tenants.b)["spec"]["quotas"] == [
        {"resource": "nvidia.com/gpu", "nominal": "3", "lendingLimit": "1"}
    ]
    dry = tenants.cli(
        "queue", "set", tenants.b, "--resource", "cpu", "--nominal", "8", "--dry-run", "-o", "yaml"
    )
    assert dry.exit_code == 0 and yaml.safe_load(dry.output)["spec"]["quotas"][-1]["resource"] == "cpu"
    assert len(tenants.queue(tenants.b)["spec"]["quotas"]) == 1


def test_pending_lists_the_queues_waiting_jobs_with_their_reason(tenants: Tenants) -> None:
    job = make_job("waiting-job", replicas=1)
    job["spec"]["queue"] = tenants.a
    tenants.cluster.kubectl("apply", "-n", tenants.namespace, "-f", "-", stdin=json.dumps(job))
    status = {"status": {"phase": "Queued", "message": f"queue {tenants.a} over quota for nvidia.com/gpu"}}
    tenants.cluster.kubectl(
        "patch", "aijob", "waiting-job", "-n", tenants.namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps(status),
    )  # fmt: skip
    for queue in (tenants.a, tenants.org):  # a parent lists its subtree's jobs
        result = tenants.cli("queue", "pending", queue, "-o", "json")
        assert result.exit_code == 0, result.output
        (row,) = json.loads(result.output)["pending"]
        assert (row["name"], row["phase"]) == ("waiting-job", "Queued")
        assert row["reason"] == f"queue {tenants.a} over quota for nvidia.com/gpu"
    assert "No pending AIJobs" in tenants.cli("queue", "pending", tenants.b).output
    # Without a name: every queue's waiting jobs (before: a name was required).
    everything = tenants.cli("queue", "pending", "-o", "json")
    assert everything.exit_code == 0, everything.output
    rows = json.loads(everything.output)["pending"]
    assert ("waiting-job", tenants.a) in {(r["name"], r["queue"]) for r in rows}
    missing = tenants.cli("queue", "pending", "no-such-queue")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_explain_says_why_a_job_waits_and_where_a_job_runs(tenants: Tenants) -> None:
    waiting = tenants.cli("explain", "aijob", "waiting-job", "-n", tenants.namespace)
    assert waiting.exit_code == 0, waiting.output
    assert f"Queued: queue {tenants.a} over quota for nvidia.com/gpu" in waiting.output
    trainer = make_job("trainer", replicas=1)
    tenants.cluster.kubectl("apply", "-n", tenants.namespace, "-f", "-", stdin=json.dumps(trainer))
    tenants.cluster.kubectl(
        "patch", "aijob", "trainer", "-n", tenants.namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"phase": "Running", "ready": "1/1"}}),
    )  # fmt: skip
    result = tenants.cli("explain", "aijob", "trainer", "-n", tenants.namespace, "-o", "yaml")
    assert result.exit_code == 0, result.output
    explained = yaml.safe_load(result.output)
    (pod,) = explained["pods"]
    assert pod["name"] == "by-label" and pod["site"] == "central"
    assert pod["devices"] == [
        "nvidia.com/gpu.shared GPU-by-label-0 (0.25)",
        "nvidia.com/gpu.shared GPU-by-label-1 (0.25)",
    ]
    assert explained["summary"] == "Running: 1 pod(s) on 1 node(s) at central with 2 device(s)"
    absent = tenants.cli("explain", "aijob", "nope", "-n", tenants.namespace)
    assert absent.exit_code == 1 and "does not exist" in absent.output
