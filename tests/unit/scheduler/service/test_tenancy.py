"""Queues in the scheduler: a broken queue affects only its own subtree, and start-up logs no false alarm."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from motherboard.scheduler.cycle import Bind, Pending
from motherboard.scheduler.service.world import World
from tests.unit.scheduler.service.test_world import pod, world

Obj = dict[str, Any]


def queue(name: str, parent: str | None = None, gpus: int = 8, namespaces: tuple[str, ...] = ()) -> Obj:
    spec: Obj = {"quotas": [{"resource": "nvidia.com/gpu", "nominal": gpus}], "namespaces": list(namespaces)}
    if parent:
        spec["parent"] = parent
    return {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "Queue",
        "metadata": {"name": name},
        "spec": spec,
    }


def in_queue(name: str, queue_name: str, gpus: int = 1) -> Obj:
    obj = pod(name, gpus, group=None)
    obj["metadata"]["labels"]["motherboard.io/queue"] = queue_name
    return obj


def outcome(w: World) -> dict[str, str]:
    result = {}
    for action in w.cycle.run(now=0).actions:
        if isinstance(action, Bind):
            result[action.workload.key] = "bound"
        elif isinstance(action, Pending):
            result[action.workload.key] = action.message
    return result


def test_a_missing_parent_switches_off_only_its_own_subtree() -> None:
    # Issue 14: deleting one parent made every child queue in every tree wait with "queue X does not
    # exist" (the scheduler kept only root queues). Now only the orphan's subtree stops admitting.
    w = world()
    for q in (queue("org-a", gpus=8), queue("team-a", "org-a", 4), queue("team-b", "org-b", 4)):
        w.on_queue(q)
    w.on_pod(in_queue("a", "team-a"))
    w.on_pod(in_queue("b", "team-b"))
    assert outcome(w) == {
        "ns/a": "bound",
        "ns/b": "queue team-b admits nothing: its parent queue org-b does not exist",
    }


def test_a_parent_cycle_switches_off_only_the_queues_in_and_below_it() -> None:
    w = world()
    for q in (queue("x", "y"), queue("y", "x"), queue("below", "x"), queue("solo", gpus=2)):
        w.on_queue(q)
    assert w.cycle.tree.queues() == ["solo"]
    assert "cycle" in w.cycle.tree.inactive["x"] and "cycle" in w.cycle.tree.inactive["below"]


def test_the_initial_list_in_any_order_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    # Issue 14: every start logged "queue tree invalid" (twice) because a child was listed before its
    # parent. Problems are reported before a cycle, when the whole list is in.
    w = world()
    caplog.set_level(logging.INFO, logger="motherboard.scheduler.service.tenancy")
    for q in (queue("team-a", "org", 4), queue("team-b", "org", 4), queue("org", gpus=8)):
        w.on_queue(q)
    w.cycle.run(now=0)
    assert [r.getMessage() for r in caplog.records] == []


def test_a_queue_left_out_is_logged_once_and_its_return_too(caplog: pytest.LogCaptureFixture) -> None:
    w = world()
    caplog.set_level(logging.INFO, logger="motherboard.scheduler.service.tenancy")
    w.on_queue(queue("team", "gone", 4))
    w.cycle.run(now=0)
    w.cycle.run(now=1)
    w.on_queue(queue("gone", gpus=8))
    w.cycle.run(now=2)
    assert [r.getMessage() for r in caplog.records] == [
        "queue team left out of admission: its parent queue gone does not exist",
        "queue problem resolved: queue team left out of admission: its parent queue gone does not exist",
    ]
