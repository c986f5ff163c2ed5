"""Hostile input through the real API server: oversized objects, garbage annotations, webhook outages,
malformed AdmissionReviews, UPDATEs under a changed cluster, and names the children cannot carry.

Each test failed before its fix (the operator died on a 512 KiB object, on a deeply nested inventory; the
webhook failed open on stop, answered garbage with 500, refused suspending a job whose pool was deleted;
long names left jobs without pods, status or Event).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.conftest import Cluster
from tests.faults.helpers import (
    GROUP,
    VERSION,
    Operator,
    create,
    job_manifest,
    remove_webhook_configurations,
)
from tests.integration.test_operator import install_crds, wait_for, webhook_serving
from tests.integration.test_scheduler import SchedulerProcess

INVENTORY = "motherboard.io/device-inventory"


@pytest.fixture(scope="module")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    install_crds(cluster)
    proc = Operator(cluster, tmp_path_factory.mktemp("faults-operator") / "operator.log")
    proc.start()
    try:
        wait_for("the operator's webhook", lambda: webhook_serving(cluster), timeout=90)
        yield proc
    finally:
        proc.stop()
        remove_webhook_configurations(cluster)
        print(proc.tail(60))


def restart(operator: Operator, cluster: Cluster) -> None:
    if operator.alive():
        operator.kill()
    operator.start()
    wait_for("the restarted operator's webhook", lambda: webhook_serving(cluster), 90)


def pods(cluster: Cluster, namespace: str, job: str) -> list[client.V1Pod]:
    core = client.CoreV1Api(cluster.api)
    return list(core.list_namespaced_pod(namespace, label_selector=f"motherboard.io/job-name={job}").items)


def test_objects_of_a_mebibyte_do_not_stop_the_operator(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    # A pod of anyone's with a 1 MiB env value: the operator's pod watch died of LineTooLong at 512 KiB.
    big = "x" * (1024 * 1024)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "big", "namespace": namespace},
        "spec": {
            "schedulerName": "nobody",
            "containers": [{"name": "c", "image": "busybox", "env": [{"name": "BIG", "value": big}]}],
        },
    }
    client.CoreV1Api(cluster.api).create_namespaced_pod(namespace, pod)
    # An AIJob of ~900 KiB: the webhook must take the review (aiohttp refused bodies over 1 MiB) and the
    # operator's AIJob watch must read it.
    accepted, error = create(cluster, namespace, job_manifest("bigjob", env={"BIG": "y" * 900_000}))
    assert accepted, error
    accepted, error = create(cluster, namespace, job_manifest("after", replicas=2))
    assert accepted, error
    wait_for("pods of the big job", lambda: len(pods(cluster, namespace, "bigjob")) == 1, timeout=60)
    wait_for("pods of the job after it", lambda: len(pods(cluster, namespace, "after")) == 2, timeout=60)
    time.sleep(3)
    assert operator.alive(), operator.tail(30)
    assert operator.probe() == (200, "ok (leader)\n")


def test_a_deeply_nested_inventory_is_reported_on_the_node_and_stops_nothing(
    cluster: Cluster, namespace: str, operator: Operator, tmp_path: Path
) -> None:
    core = client.CoreV1Api(cluster.api)
    node = next(n for n in core.list_node().items if INVENTORY in (n.metadata.annotations or {}))
    name, original = node.metadata.name, node.metadata.annotations[INVENTORY]
    scheduler = SchedulerProcess(cluster.kubeconfig, tmp_path / "scheduler.log", "--no-leader-elect").start()
    garbage = "[" * 5000 + "]" * 5000  # RecursionError in NodeInventory.from_annotation
    try:
        wait_for("the scheduler ready", lambda: scheduler.probe().startswith("ok"), timeout=60)
        core.patch_node(name, {"metadata": {"annotations": {INVENTORY: garbage}}})

        def unreadable() -> list[str]:
            events = core.list_namespaced_event("default", field_selector=f"involvedObject.name={name}").items
            return [
                e.message for e in events if e.reason == "Unreadable" and e.involved_object.kind == "Node"
            ]

        (message, *_) = wait_for("an Unreadable event on the node", unreadable, timeout=30)
        assert INVENTORY in message and "nested too deeply" in message
        time.sleep(2)
        assert operator.alive() and operator.ready(), operator.tail(30)
        assert scheduler.probe() == "ok (leader)\n"
        # A restart with the garbage still there: the operator came back refusing every job ("still
        # loading the cluster state") because its node watch never finished its first list.
        restart(operator, cluster)
        accepted, error = create(cluster, namespace, job_manifest("after-restart"))
        assert accepted, error
        wait_for("its pod", lambda: len(pods(cluster, namespace, "after-restart")) == 1, timeout=60)
        # The scheduler still binds: a plain pod of ours lands on a node.
        plain = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "plain", "namespace": namespace},
            "spec": {
                "schedulerName": "motherboard-scheduler",
                "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}],
            },
        }
        core.create_namespaced_pod(namespace, plain)
        wait_for(
            "the plain pod bound", lambda: core.read_namespaced_pod("plain", namespace).spec.node_name, 60
        )
        assert scheduler.probe() == "ok (leader)\n"
    finally:
        core.patch_node(name, {"metadata": {"annotations": {INVENTORY: original}}})
        scheduler.stop()
        print(scheduler.log.read_text()[-3000:])


def test_the_webhook_fails_closed_while_the_operator_is_down(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    operator.stop()  # SIGTERM: an orderly stop (kopf removed the webhooks then; AIJobs went in unchecked)
    try:
        config = json.loads(
            cluster.kubectl("get", "validatingwebhookconfiguration", GROUP, "-o", "json").stdout
        )
        assert config["webhooks"] and {w["failurePolicy"] for w in config["webhooks"]} == {"Fail"}
        accepted, error = create(cluster, namespace, job_manifest("while-down"))
        assert not accepted and "failed calling webhook" in error, error
    finally:
        restart(operator, cluster)
    accepted, error = create(cluster, namespace, job_manifest("when-back"))
    assert accepted, error


def review(**request: Any) -> dict[str, Any]:
    body = {
        "uid": "u-1",
        "kind": {"group": GROUP, "version": VERSION, "kind": "Queue"},
        "resource": {"group": GROUP, "version": VERSION, "resource": "queues"},
        "operation": "CREATE",
        "userInfo": {"username": "tester"},
        "object": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Queue",
            "metadata": {"name": "q"},
            "spec": {},
        },
        **request,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}


def post(port: int, body: bytes) -> tuple[int, str]:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/validate-queue", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


MALFORMED = {
    "not JSON": b"{not json",
    "a future apiVersion": json.dumps({**review(), "apiVersion": "admission.k8s.io/v9"}).encode(),
    "no request": json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
    "a request without userInfo": json.dumps(review(userInfo=None)).encode(),
    "nested past the decoder": b"[" * 50_000 + b"]" * 50_000,
}


def test_malformed_admission_reviews_get_400_naming_the_problem(operator: Operator) -> None:
    port = operator.ports["webhook"]
    for case, body in MALFORMED.items():
        status, text = post(port, body)
        assert status == 400 and "malformed AdmissionReview" in text and "Traceback" not in text, (case, text)
    status, text = post(port, json.dumps(review()).encode())
    assert status == 200 and json.loads(text)["response"]["uid"] == "u-1", text
    assert operator.alive()


def test_a_job_whose_pool_was_deleted_can_still_be_suspended(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    custom = client.CustomObjectsApi(cluster.api)
    pool_name = f"pool-{namespace}"[:63]
    pool = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DevicePool",
        "metadata": {"name": pool_name},
        "spec": {"vendor": "nvidia"},
    }
    custom.create_cluster_custom_object(GROUP, VERSION, "devicepools", pool)
    manifest = job_manifest("pooled")
    manifest["spec"]["tasks"][0]["devices"] = {"pool": pool_name, "count": 1}
    wait_for("the webhook knows the pool", lambda: create(cluster, namespace, manifest)[0], timeout=30)
    custom.delete_cluster_custom_object(GROUP, VERSION, "devicepools", pool_name)
    other = job_manifest("probe")
    other["spec"]["tasks"][0]["devices"] = {"pool": pool_name, "count": 1}
    wait_for("the webhook knows the pool is gone", lambda: not create(cluster, namespace, other)[0], 30)
    patch = json.dumps({"spec": {"runPolicy": {"suspend": True}}})
    result = cluster.kubectl(
        "patch", "aijob", "pooled", "-n", namespace, "--type=merge", "-p", patch, check=False
    )
    assert result.returncode == 0, result.stderr  # refused before: the whole job was judged again
    renamed = json.dumps(
        {"spec": {"tasks": [{**manifest["spec"]["tasks"][0], "devices": {"pool": "nope", "count": 1}}]}}
    )
    result = cluster.kubectl(
        "patch", "aijob", "pooled", "-n", namespace, "--type=merge", "-p", renamed, check=False
    )
    assert result.returncode != 0 and "nope" in result.stderr  # what an update brings is still checked


def explain(cluster: Cluster, namespace: str, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "motherboard.cli", "explain", "aijob", name, "-n", namespace,
         f"--kubeconfig={cluster.kubeconfig}", "-o", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_names_the_children_cannot_carry_are_refused_or_made_to_fit(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    accepted, error = create(cluster, namespace, job_manifest("n" * 64))
    assert not accepted and "metadata.name: 64 characters, at most 63" in error, error
    accepted, error = create(cluster, namespace, job_manifest("7b-finetune"))
    assert not accepted and "starts with a digit" in error, error
    fits = "f" * 56  # its pods' hostnames would be 65 characters
    accepted, error = create(cluster, namespace, job_manifest(fits, replicas=2))
    assert accepted, error
    wait_for("its pods", lambda: len(pods(cluster, namespace, fits)) == 2, timeout=60)
    made = pods(cluster, namespace, fits)
    assert all(len(p.spec.hostname) <= 63 and p.spec.subdomain == fits for p in made)
    assert explain(cluster, namespace, fits).returncode == 0
    # One that got in while no webhook checked it: failed with the reason, once; explain still answers.
    operator.stop()
    remove_webhook_configurations(cluster)
    try:
        accepted, error = create(cluster, namespace, job_manifest("l" * 70))
        assert accepted, error
    finally:
        restart(operator, cluster)
    custom = client.CustomObjectsApi(cluster.api)

    def failed() -> str | None:
        status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "aijobs", "l" * 70).get(
            "status"
        )
        return (status or {}).get("message") if (status or {}).get("phase") == "Failed" else None

    assert "at most 63" in wait_for("the long job failed with its reason", failed, timeout=60)
    shown = explain(cluster, namespace, "l" * 70)
    assert shown.returncode == 0 and json.loads(shown.stdout)["phase"] == "Failed", shown.stderr
