"""kwok Stage documents: present, well-formed, and keyed on Motherboard's annotation constants."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from motherboard.api.constants import ANNOTATION_DURATION, ANNOTATION_SIMULATED_EXIT


def _stages() -> dict[str, dict[str, Any]]:
    text = resources.files("motherboard.devcluster").joinpath("kwok-stages.yaml").read_text()
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert all(d["apiVersion"] == "kwok.x-k8s.io/v1alpha1" and d["kind"] == "Stage" for d in docs)
    return {d["metadata"]["name"]: d for d in docs}


def _exprs(stage: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {
        e["key"]: (e["operator"], e.get("values", [])) for e in stage["spec"]["selector"]["matchExpressions"]
    }


def test_node_and_pod_lifecycles_are_covered() -> None:
    stages = _stages()
    kinds = {name: s["spec"]["resourceRef"]["kind"] for name, s in stages.items()}
    assert kinds == {
        "node-initialize": "Node",
        "node-heartbeat-with-lease": "Node",
        "pod-ready": "Pod",
        "pod-succeed-after-duration": "Pod",
        "pod-fail-after-duration": "Pod",
        "pod-delete": "Pod",
    }


def test_completion_waits_for_the_duration_annotation_and_picks_the_exit() -> None:
    stages = _stages()
    duration_key = f'.metadata.annotations["{ANNOTATION_DURATION}"]'
    exit_key = f'.metadata.annotations["{ANNOTATION_SIMULATED_EXIT}"]'
    ok, fail = stages["pod-succeed-after-duration"], stages["pod-fail-after-duration"]
    for stage, phase in ((ok, "Succeeded"), (fail, "Failed")):
        assert _exprs(stage)[duration_key] == ("Exists", [])  # no annotation: the pod runs until deleted
        assert stage["spec"]["delay"]["durationFrom"]["expressionFrom"] == duration_key
        assert f"phase: {phase}" in stage["spec"]["next"]["statusTemplate"]
    assert _exprs(ok)[exit_key] == ("NotIn", ["Failed"])
    assert _exprs(fail)[exit_key] == ("In", ["Failed"])
