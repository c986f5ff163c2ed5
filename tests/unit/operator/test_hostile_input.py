"""Hostile input at the operator's edges: malformed AdmissionReviews, garbage annotations, fail-open configs,
and UPDATEs of objects the cluster has changed under."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motherboard.api.v1alpha1 import AIJob
from motherboard.operator.health import configuration_problem
from motherboard.operator.review import review_problem
from motherboard.operator.store import Store
from motherboard.operator.validation import Cluster, check_aijob
from motherboard.operator.webhook import _new_problems

Obj = dict[str, Any]
DEEP = "[" * 100_000 + "]" * 100_000


def review(**request: Any) -> Obj:
    body: Obj = {
        "uid": "u-1",
        "kind": {"group": "motherboard.io", "version": "v1alpha1", "kind": "AIJob"},
        "resource": {"group": "motherboard.io", "version": "v1alpha1", "resource": "aijobs"},
        "operation": "CREATE",
        "userInfo": {"username": "alice"},
        "object": {"metadata": {"name": "j", "namespace": "ns"}, "spec": {}},
    }
    body.update(request)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}


def test_a_review_the_api_server_sends_passes() -> None:
    assert review_problem(review()) is None
    update = review(operation="UPDATE", oldObject={"metadata": {"name": "j"}})
    assert review_problem(update) is None
    assert review_problem({**review(), "apiVersion": "admission.k8s.io/v1beta1"}) is None


MALFORMED: list[tuple[str, object, str]] = [
    ("not an object", [1, 2], "not a JSON object"),
    ("future apiVersion", {**review(), "apiVersion": "admission.k8s.io/v9"}, "admission.k8s.io/v9"),
    ("wrong kind", {**review(), "kind": "Pod"}, "kind"),
    ("no request", {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "request"),
    ("request a string", {**review(), "request": "x"}, "request"),
    ("no uid", review(uid=None), "request.uid"),
    ("unknown operation", review(operation="PATCH"), "request.operation"),
    ("no resource", review(resource=None), "request.resource"),
    ("resource without plural", review(resource={"group": "", "version": "v1"}), "request.resource.resource"),
    ("no userInfo", review(userInfo=None), "request.userInfo"),
    ("object a list", review(object=[1]), "request.object"),
    ("metadata a string", review(object={"metadata": "x"}), "request.object"),
    ("update without old", review(operation="UPDATE"), "request.oldObject"),
    ("create without object", review(object=None), "request.object"),
    ("dryRun a string", review(dryRun="yes"), "request.dryRun"),
    ("name a number", review(name=7), "request.name"),
]


@pytest.mark.parametrize(("case", "body", "named"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_every_malformed_review_is_named(case: str, body: object, named: str) -> None:
    problem = review_problem(body)
    assert problem is not None and named in problem, case


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_is_judged_without_an_exception(body: object) -> None:
    problem = review_problem(body)
    assert problem is None or isinstance(problem, str)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["uid", "operation", "resource", "userInfo", "object", "oldObject"]), json_values
    )
)
def test_arbitrary_requests_are_judged_without_an_exception(request: Obj) -> None:
    body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    problem = review_problem(body)
    assert problem is not None or (request.get("object") or request.get("oldObject")) is not None


CA = b"-----BEGIN CERTIFICATE-----\nours\n-----END CERTIFICATE-----\n"


def configuration(policy: str = "Fail", ca: bytes = CA) -> Obj:
    client = {"url": "https://127.0.0.1:9443/validate-aijob", "caBundle": base64.b64encode(ca).decode()}
    return {
        "webhooks": [
            {"name": "validate-aijob.motherboard.io", "failurePolicy": policy, "clientConfig": client}
        ]
    }


def test_only_a_fail_closed_configuration_with_our_ca_is_ready() -> None:
    kind = "validatingwebhookconfigurations"
    assert configuration_problem(kind, configuration(), CA) is None
    assert "does not exist" in str(configuration_problem(kind, None, CA))
    assert "no webhooks" in str(configuration_problem(kind, {"webhooks": []}, CA))  # what kopf left on stop
    assert "fails open" in str(configuration_problem(kind, configuration(policy="Ignore"), CA))
    assert "another CA" in str(configuration_problem(kind, configuration(ca=b"theirs"), CA))


def job(pool: str | None, suspend: bool = False, replicas: int = 1) -> Obj:
    devices: Obj = {"vendor": "nvidia", "count": 1, **({"pool": pool} if pool else {})}
    task = {
        "name": "worker",
        "replicas": replicas,
        "devices": devices,
        "template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}},
    }
    return {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "AIJob",
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": {"framework": "PyTorch", "tasks": [task], "runPolicy": {"suspend": suspend}},
    }


def test_an_update_is_judged_on_what_it_changes_not_on_what_the_cluster_changed_under_it() -> None:
    empty = Cluster()  # the job's DevicePool was deleted after the job was admitted
    created = _new_problems(AIJob, job("gone"), None, check_aijob, empty)
    assert created and any("gone" in p for p in created)  # a CREATE naming it is refused
    suspended = _new_problems(AIJob, job("gone", suspend=True), job("gone"), check_aijob, empty)
    assert suspended == []  # suspending it is allowed: the missing pool was not brought by the update
    renamed = _new_problems(AIJob, job("other", suspend=True), job("gone"), check_aijob, empty)
    assert renamed and any("other" in p for p in renamed)  # a newly named missing pool is refused
    broken = job("gone")
    broken["spec"]["tasks"][0]["replicas"] = 0
    assert _new_problems(AIJob, broken, job("gone"), check_aijob, empty)  # a new schema error is refused


def test_a_garbage_inventory_is_reported_on_the_node_and_the_node_counts_without_devices() -> None:
    store = Store()
    reported: list[tuple[str, str, str]] = []
    store.problem_listeners.append(
        lambda obj, why: reported.append((obj["kind"], obj["metadata"]["name"], why))
    )
    for value in (DEEP, "{not json", json.dumps({"devices": "many"})):
        node = {
            "metadata": {
                "name": "n1",
                "uid": "u1",
                "annotations": {"motherboard.io/device-inventory": value},
            },
            "status": {"allocatable": {"cpu": "8"}},
        }
        store.on_node(node, False)
        assert store.nodes["n1"].inventory.devices == ()
    assert [(kind, name) for kind, name, _ in reported] == [("Node", "n1")] * 3
    assert "nested too deeply" in reported[0][2]
