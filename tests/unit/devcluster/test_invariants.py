"""The fault suite's invariants name each breach they are shown, and nothing in a healthy picture."""

from __future__ import annotations

import json
from typing import Any

from motherboard.devcluster.invariants import violations

Obj = dict[str, Any]


def job(name: str, phase: str, **status: str) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns"}, "status": {"phase": phase, **status}}


def pod(name: str, job: str, index: int, *, node: str | None = None, phase: str = "Running", attempt: int = 0,
        devices: tuple[str, ...] = (), assigned_to: str | None = None, size: int = 2) -> Obj:  # fmt: skip
    annotations = {"motherboard.io/gang-min-available": str(size)}
    if devices:
        entry = {"name": "main", "resource": "nvidia.com/gpu", "devices": [{"id": d} for d in devices]}
        annotations["motherboard.io/device-assignment"] = json.dumps(
            {"v": 1, "node": assigned_to or node, "containers": [entry]}
        )
    labels = {
        "motherboard.io/job-name": job,
        "motherboard.io/task-name": "worker",
        "motherboard.io/replica-index": str(index),
        "motherboard.io/attempt": str(attempt),
    }
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels, "annotations": annotations},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": phase if node else "Pending"},
    }


def test_a_healthy_picture_has_no_violation() -> None:
    jobs = [job("a", "Succeeded"), job("b", "Running"), job("c", "Failed", reason="BackoffLimitExceeded")]
    pods = [
        pod("a-0", "a", 0, node="n1", phase="Succeeded", devices=("g0",)),
        pod("a-1", "a", 1, node="n1", phase="Succeeded", devices=("g0",)),  # finished: g0 is free again
        pod("b-0", "b", 0, node="n1", devices=("g0",)),
        pod("b-1", "b", 1, node="n1", devices=("g1",)),
    ]
    assert violations(jobs, pods) == []


def test_each_breach_is_named() -> None:
    jobs = [
        job("stuck", "Queued", message="waiting for the scheduler"),
        job("quiet", "Failed"),
        job("s", "Succeeded"),
    ]
    pods = [
        pod("s-0", "s", 0, node="n1", phase="Succeeded"),
        pod("s-1", "s", 1),  # the job says Succeeded, this member never ran
        pod("p-0", "p", 0, node="n1", devices=("g3",)),
        pod("p-1", "p", 1),  # a gang half running
        pod("q-0", "q", 0, node="n2", devices=("g0",), size=1),
        pod("r-0", "r", 0, node="n2", devices=("g0",), size=1),  # the same device
        pod("e-0", "e", 0, node="n3", devices=("g1",), assigned_to="n4", size=1),
    ]
    dup = pod("q-0-again", "q", 0, node="n2", size=1)
    found = violations(jobs, [*pods, dup])
    kinds = sorted(v.split(":")[0] for v in found)
    assert kinds == [
        "bound elsewhere",
        "device held twice",
        "duplicate pods",
        "lost",
        "partial gang",
        "stuck",
        "stuck",
    ]
    assert any("waiting for the scheduler" in v for v in found)
