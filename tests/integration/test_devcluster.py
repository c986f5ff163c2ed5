"""The dev cluster itself: a real API server with RBAC, controllers, and kwok nodes from the demo profile."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from motherboard.api.constants import ANNOTATION_DURATION, ANNOTATION_SIMULATED_EXIT
from motherboard.devcluster.build import K8S_VERSION
from motherboard.devcluster.health import TLSClient, probe
from motherboard.devcluster.pki import PKI, make_leaf
from motherboard.devcluster.render import render_nodes

if TYPE_CHECKING:  # the fixture's type; tests/integration is not a package, so no runtime import
    from conftest import Cluster

pytestmark = pytest.mark.integration

T = TypeVar("T")
CPU_NODE = "central-cpu-000"  # untainted, so plain pods need no tolerations
HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404


def wait_for(fetch: Callable[[], T], done: Callable[[T], bool], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s:.0f}s waiting for {what}; last: {value!r}"[:2000]
            )
        time.sleep(0.2)


def pod(name: str, node: str | None = CPU_NODE, **annotations: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}], "restartPolicy": "Never"}
    if node is not None:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    }


def test_api_server_is_ready_serves_the_pinned_version_and_every_component_is_healthy(
    cluster: Cluster,
) -> None:
    assert client.VersionApi(cluster.api).get_code().git_version == K8S_VERSION
    admin = cluster.dev.pki.pair("admin")
    server = cluster.api.configuration.host
    assert probe(f"{server}/readyz", TLSClient(cluster.dev.pki.ca.cert, admin.cert, admin.key)) == (
        True,
        "ok",
    )
    components = {c.name: c for c in cluster.dev.status()}
    assert set(components) >= {"etcd", "kube-apiserver", "kube-controller-manager", "kwok"}
    assert all(c.healthy for c in components.values()), components


def _client_as(cluster: Cluster, **auth: str) -> client.ApiClient:
    base = cluster.api.configuration
    cfg = client.Configuration(host=base.host)
    cfg.ssl_ca_cert = base.ssl_ca_cert
    if "token" in auth:
        cfg.api_key = {"authorization": auth["token"]}
        cfg.api_key_prefix = {"authorization": "Bearer"}
    else:
        cfg.cert_file, cfg.key_file = auth["cert"], auth["key"]
    return client.ApiClient(cfg)


def test_rbac_forbids_a_service_account_until_it_is_granted_rights(cluster: Cluster, namespace: str) -> None:
    core, rbac = client.CoreV1Api(cluster.api), client.RbacAuthorizationV1Api(cluster.api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token(
        "nobody", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    with _client_as(cluster, token=token) as api:
        with pytest.raises(ApiException) as denied:
            client.CoreV1Api(api).list_namespaced_pod(namespace)
        assert denied.value.status == HTTP_FORBIDDEN
        assert f"system:serviceaccount:{namespace}:nobody" in str(denied.value.body)
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "nobody-view"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": namespace}],
            },
        )
        # Authorization is evaluated per request: the binding takes effect as soon as the cache sees it.
        wait_for(lambda: _can_list_pods(api, namespace), bool, 30, "the RoleBinding to grant list on pods")


def _can_list_pods(api: client.ApiClient, namespace: str) -> bool:
    try:
        client.CoreV1Api(api).list_namespaced_pod(namespace)
        return True
    except ApiException as exc:
        if exc.status != HTTP_FORBIDDEN:
            raise
        return False


def test_a_client_certificate_user_without_bindings_is_forbidden(cluster: Cluster, tmp_path: Path) -> None:
    # Signed by the cluster CA, so authentication succeeds and only authorization can refuse it.
    pair = make_leaf(
        PKI(tmp_path), "stranger", "stranger", organizations=("strangers",), ca=cluster.dev.pki.ca
    )
    with _client_as(cluster, cert=str(pair.cert), key=str(pair.key)) as api:
        with pytest.raises(ApiException) as denied:
            client.CoreV1Api(api).list_namespaced_pod("default")
        assert denied.value.status == HTTP_FORBIDDEN
        assert 'User "stranger"' in json.loads(denied.value.body)["message"]


def test_pod_on_a_kwok_node_runs_then_succeeds_after_its_annotated_duration(
    cluster: Cluster, namespace: str
) -> None:
    core = client.CoreV1Api(cluster.api)
    core.create_namespaced_pod(namespace, pod("short", **{ANNOTATION_DURATION: "4s"}))
    core.create_namespaced_pod(namespace, pod("forever"))
    running = wait_for(
        lambda: core.read_namespaced_pod("short", namespace),
        lambda p: p.status.phase in {"Running", "Succeeded"},
        30,
        "pod short to run",
    )
    assert running.status.phase == "Running", "completed before it was seen running: duration ignored?"
    assert running.status.pod_ip
    done = wait_for(
        lambda: core.read_namespaced_pod("short", namespace),
        lambda p: p.status.phase != "Running",
        30,
        "completion",
    )
    assert done.status.phase == "Succeeded"
    term = done.status.container_statuses[0].state.terminated
    assert term.exit_code == 0
    assert (term.finished_at - term.started_at).total_seconds() >= 3  # it ran for the annotated 4s
    # Without the annotation a pod runs until deleted.
    assert core.read_namespaced_pod("forever", namespace).status.phase == "Running"


def test_pod_annotated_to_fail_ends_failed(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api)
    core.create_namespaced_pod(
        namespace, pod("crash", **{ANNOTATION_DURATION: "1s", ANNOTATION_SIMULATED_EXIT: "Failed"})
    )
    done = wait_for(
        lambda: core.read_namespaced_pod("crash", namespace),
        lambda p: p.status.phase in {"Succeeded", "Failed"},
        30,
        "pod crash to finish",
    )
    assert done.status.phase == "Failed"
    assert done.status.container_statuses[0].state.terminated.exit_code == 1


def test_a_job_on_kwok_nodes_completes(cluster: Cluster, namespace: str) -> None:
    template = pod("unused", **{ANNOTATION_DURATION: "2s"})
    template = {"metadata": {"annotations": template["metadata"]["annotations"]}, "spec": template["spec"]}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "batch"},
        "spec": {"completions": 3, "parallelism": 3, "backoffLimit": 0, "template": template},
    }
    batch = client.BatchV1Api(cluster.api)
    batch.create_namespaced_job(namespace, job)
    done = wait_for(
        lambda: batch.read_namespaced_job_status("batch", namespace),
        lambda j: any(
            c.type in {"Complete", "Failed"} and c.status == "True" for c in j.status.conditions or []
        ),
        60,
        "the Job to finish",
    )
    assert [c.type for c in done.status.conditions if c.status == "True"][-1] == "Complete"
    assert done.status.succeeded == 3


def test_deleting_an_owner_garbage_collects_its_pods(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    owned = pod("owned")
    owned["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    ]
    core.create_namespaced_pod(namespace, owned)
    core.create_namespaced_pod(namespace, pod("bystander"))
    wait_for(
        lambda: core.read_namespaced_pod("owned", namespace), lambda p: p.status.phase == "Running", 30, "run"
    )
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")
    wait_for(lambda: _exists(core, "owned", namespace), lambda e: not e, 60, "the owned pod to be collected")
    assert _exists(core, "bystander", namespace)


def _exists(core: client.CoreV1Api, name: str, namespace: str) -> bool:
    try:
        core.read_namespaced_pod(name, namespace)
        return True
    except ApiException as exc:
        if exc.status == HTTP_NOT_FOUND:
            return False
        raise


def test_demo_profile_nodes_exist_with_their_labels_capacity_and_taints_and_are_ready(
    cluster: Cluster,
) -> None:
    core = client.CoreV1Api(cluster.api)
    live = {n.metadata.name: n for n in core.list_node().items}
    expected = render_nodes(cluster.profile)
    assert len(expected) == 23
    for want in expected:
        name = want["metadata"]["name"]
        node = live[name]
        assert want["metadata"]["labels"].items() <= node.metadata.labels.items(), name
        # Compared as quantities: the server normalises 2048Gi to 2Ti.
        for field in ("capacity", "allocatable"):
            live_res = {k: parse_quantity(v) for k, v in getattr(node.status, field).items()}
            assert live_res == {k: parse_quantity(v) for k, v in want["status"][field].items()}, (name, field)
        # The not-ready taint every new Node gets was lifted by the node-lifecycle controller...
        taints = {(t.key, t.value or "", t.effect) for t in node.spec.taints or []}
        assert taints == {(t["key"], t["value"], t["effect"]) for t in want["spec"]["taints"]}, name
        # ...because kwok reports the node Ready.
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True", name
