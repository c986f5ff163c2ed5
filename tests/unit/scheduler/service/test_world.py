"""The adapter's state from watch events: restart charging, gang queueing, and half-gang recovery."""

from __future__ import annotations

import json
from typing import Any

from motherboard.scheduler.cycle import Bind
from motherboard.scheduler.placement import shipped_profile
from motherboard.scheduler.service.recovery import recover
from motherboard.scheduler.service.world import World
from tests.unit.scheduler.cache.builders import make_node

Obj = dict[str, Any]


def node(name: str, gpus: int = 8) -> Obj:
    spec = make_node(name, share=False).gpus(gpus).build()
    return {
        "metadata": {"name": name, "labels": {}, "annotations": spec.inventory.annotations()},
        "spec": {},
        "status": {"allocatable": {"cpu": "64", "memory": "256Gi"}},
    }


def pod(
    name: str,
    gpus: int = 1,
    group: str | None = "job",
    size: int = 4,
    node: str | None = None,
    devices: list[str] | None = None,
) -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {}, "annotations": {}}
    if group:
        meta["labels"]["motherboard.io/pod-group"] = group
        meta["annotations"]["motherboard.io/gang-min-available"] = str(size)
    if devices is not None:
        assignment = {"v": 1, "node": devices[0].split("-gpu")[0], "containers": [
            {"name": "main", "resource": "nvidia.com/gpu", "devices": [{"id": d, "milli": 1000} for d in devices]}
        ]}  # fmt: skip
        meta["annotations"]["motherboard.io/device-assignment"] = json.dumps(assignment)
    spec: Obj = {
        "schedulerName": "motherboard-scheduler",
        "containers": [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}],
    }
    if node:
        spec["nodeName"] = node
    return {"metadata": meta, "spec": spec, "status": {"phase": "Running" if node else "Pending"}}


def world(*nodes: str) -> World:
    w = World(shipped_profile())
    for name in nodes or ("n0", "n1"):
        w.on_node(node(name))
    return w


def test_a_bound_pod_seen_at_start_is_charged_to_exactly_its_assigned_devices() -> None:
    w = world()
    w.on_pod(pod("a", 2, group=None, node="n1", devices=["n1-gpu3", "n1-gpu5"]))
    placement = w.cache.placement("ns/a")
    assert placement is not None and placement.node_name == "n1" and w.cache.is_bound("ns/a")
    assert sorted(p.device for p in placement.picks) == [3, 5]


def test_a_gang_is_queued_only_once_min_available_members_exist() -> None:
    w = world()
    for i in range(3):
        w.on_pod(pod(f"m{i}"))
    assert w.queues.pending() == 0 and w.cycle.run(now=0).actions == []
    w.on_pod(pod("m3"))
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind) and len(action.placements) == 4


def test_a_failed_binding_puts_the_pod_back_and_releases_its_devices() -> None:
    w = world()
    w.on_pod(pod("solo", group=None))
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind)
    w.start_binding(action.workload, ["ns/solo"])
    w.binding_failed("ns/solo")
    assert w.cache.placement("ns/solo") is None and w.queues.pending() == 1


def test_a_half_bound_gang_completes_on_the_devices_its_assignments_name() -> None:
    # Pods annotated before binding by an older scheduler, which wrote every member's assignment first.
    w = world()
    w.on_pod(pod("m0", node="n0", devices=["n0-gpu0"]))
    w.on_pod(pod("m1", node="n0", devices=["n0-gpu1"]))
    w.on_pod(pod("m2", devices=["n1-gpu0"]))  # annotated, killed before binding
    w.on_pod(pod("m3", devices=["n1-gpu1"]))
    binds, undo = recover(w)
    assert undo == [] and len(binds) == 1
    assert [(p.pod.name, p.node_name) for p in binds[0].placements] == [("ns/m2", "n1"), ("ns/m3", "n1")]


def test_a_half_bound_gang_whose_pending_members_carry_no_plan_is_deleted() -> None:
    # The assignment travels in the Binding: members the previous leader did not bind carry none.
    w = world()
    w.on_pod(pod("m0", node="n0", devices=["n0-gpu0"]))
    w.on_pod(pod("m1", node="n0", devices=["n0-gpu1"]))
    w.on_pod(pod("m2"))
    w.on_pod(pod("m3"))
    binds, undo = recover(w)
    assert binds == [] and sorted(i.key for i in undo) == ["ns/m0", "ns/m1"]


def test_a_half_bound_gang_whose_devices_were_taken_is_deleted() -> None:
    w = world()
    w.on_pod(pod("other", group=None, node="n1", devices=["n1-gpu0"]))
    w.on_pod(pod("m0", node="n0", devices=["n0-gpu0"]))
    w.on_pod(pod("m1", node="n0", devices=["n0-gpu1"]))
    w.on_pod(pod("m2", devices=["n1-gpu0"]))
    w.on_pod(pod("m3", devices=["n1-gpu1"]))
    binds, undo = recover(w)
    assert binds == [] and sorted(i.key for i in undo) == ["ns/m0", "ns/m1"]
    assert w.cache.placement("ns/m3") is None, "a failed completion leaves no assumption behind"


def test_deleting_every_pod_of_an_admitted_workload_returns_its_quota() -> None:
    w = world()
    queue = {"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": "team"},
             "spec": {"namespaces": ["ns"], "quotas": [{"resource": "nvidia.com/gpu", "nominal": 8}]}}  # fmt: skip
    w.on_queue(queue)
    w.on_pod(pod("m0", 4, size=2, node="n0", devices=[f"n0-gpu{i}" for i in range(4)]))
    w.on_pod(pod("m1", 4, size=2, node="n0", devices=[f"n0-gpu{i}" for i in range(4, 8)]))
    assert w.cycle.tree.usage("team").get_amount("nvidia.com/gpu") == 8000
    for name in ("m0", "m1"):
        w.on_pod(pod(name, 4, size=2, node="n0"), deleted=True)
    assert w.cycle.tree.usage("team").get_amount("nvidia.com/gpu") == 0
    assert w.cache.placements() == []


def terminating(obj: Obj, phase: str = "Running") -> Obj:
    """The pod after its deletion was asked for: still on its node until the kubelet has stopped it."""
    return {**obj, "metadata": {**obj["metadata"], "deletionTimestamp": "2026-12-04T03:00:00Z"},
            "status": {"phase": phase}}  # fmt: skip


def test_a_terminating_pod_keeps_its_room_on_the_node_until_it_is_gone_but_not_its_quota() -> None:
    # The bug: its room was given away at the deletion request, and the kubelet, which still counted the
    # terminating pod, failed the next pod placed there with OutOfcpu (a rollout's compile job, on the real
    # node). The quota is released at once, as before.
    w = world("n0")
    queue = {"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": "team"},
             "spec": {"namespaces": ["ns"], "quotas": [{"resource": "nvidia.com/gpu", "nominal": 8}]}}  # fmt: skip
    w.on_queue(queue)
    running = pod("old", 8, group=None, node="n0", devices=[f"n0-gpu{i}" for i in range(8)])
    w.on_pod(running)
    w.on_pod(terminating(running))
    assert w.cycle.tree.usage("team").get_amount("nvidia.com/gpu") == 0
    assert w.cache.placement("ns/old") is not None, "its devices are still in use on n0"
    w.on_pod(pod("new", 8, group=None))
    (wait,) = w.cycle.run(now=0).actions
    assert not isinstance(wait, Bind), "nothing may be placed into the room of a pod still terminating"
    w.on_pod(terminating(running), deleted=True)
    assert w.cache.placement("ns/old") is None
    (bind,) = w.cycle.run(now=1).actions
    assert isinstance(bind, Bind) and bind.workload.key == "ns/new"


def test_a_pod_seen_first_while_terminating_is_charged_to_its_node_and_one_that_stopped_is_not() -> None:
    w = world("n0")
    w.on_pod(terminating(pod("dying", 2, group=None, node="n0", devices=["n0-gpu0", "n0-gpu1"])))
    assert w.cache.placement("ns/dying") is not None  # a restart while it terminates: still counted
    w.on_pod(terminating(pod("dying", 2, group=None, node="n0"), phase="Failed"))
    assert w.cache.placement("ns/dying") is None  # stopped: the kubelet counts it no more
    w.on_pod(terminating(pod("done", 2, group=None, node="n0"), phase="Succeeded"))
    assert w.cache.placement("ns/done") is None


def test_status_only_updates_of_a_pod_are_dropped_before_it_is_parsed(monkeypatch: Any) -> None:
    import motherboard.scheduler.service.world as world_module

    w = world()
    parsed: list[str] = []
    real = world_module.pod_info

    def counting(obj: Obj) -> Any:
        parsed.append(obj["metadata"]["name"])
        return real(obj)

    monkeypatch.setattr(world_module, "pod_info", counting)
    obj = pod("a", group=None, node="n0", devices=["n0-gpu0"])
    w.on_pod(obj)
    for conditions in ([{"type": "Ready", "status": "False"}], [{"type": "Ready", "status": "True"}]):
        w.on_pod({**obj, "status": {"phase": "Running", "conditions": conditions}})  # the kubelet
    assert parsed == ["a"]
    w.on_pod({**obj, "status": {"phase": "Succeeded"}})  # finished: it releases its devices
    assert parsed == ["a", "a"] and w.cache.placement("ns/a") is None


def test_node_changes_are_applied_in_bulk_before_the_next_cycle_or_bound_pod() -> None:
    w = World(shipped_profile())
    rebuilds = 0
    apply_nodes = w.cache.apply_nodes

    def counting(changes: Any) -> Any:
        nonlocal rebuilds
        rebuilds += 1
        return apply_nodes(changes)

    w.cache.apply_nodes = counting  # type: ignore[method-assign]
    for i in range(5):
        w.on_node(node(f"n{i}"))
    w.on_node(node("n0"))  # a heartbeat: nothing the scheduler reads changed
    assert rebuilds == 0 and w.cache.node_names == ()
    w.on_pod(pod("a", group=None, node="n3", devices=["n3-gpu0"]))
    assert rebuilds == 1 and len(w.cache.node_names) == 5 and w.cache.is_bound("ns/a")
    w.on_node(node("n5"))
    w.on_pod(pod("b", group=None))
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind) and rebuilds == 2 and len(w.cache.node_names) == 6


def test_a_workload_whose_binding_failed_returns_its_quota_and_its_pod_is_pending_again() -> None:
    w = world()
    queue = {"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": "team"},
             "spec": {"namespaces": ["ns"], "quotas": [{"resource": "nvidia.com/gpu", "nominal": 8}]}}  # fmt: skip
    w.on_queue(queue)
    w.on_pod(pod("solo", 2, group=None))
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind)
    w.start_binding(action.workload, ["ns/solo"])
    assert w.cycle.tree.usage("team").get_amount("nvidia.com/gpu") == 2000 and "ns/solo" in w.admitted
    w.binding_failed("ns/solo")
    assert w.cycle.tree.usage("team").get_amount("nvidia.com/gpu") == 0 and w.admitted == {}
    assert w.queues.pending() == 1


def test_the_binding_event_of_a_pending_pod_is_read_without_parsing_it_again(monkeypatch: Any) -> None:
    import motherboard.scheduler.service.world as world_module

    w = world()
    parsed: list[str] = []
    real = world_module.pod_info
    monkeypatch.setattr(world_module, "pod_info", lambda obj: parsed.append("x") or real(obj))
    pending = pod("a", group=None)
    w.on_pod(pending)
    bound = {**pending, "spec": {**pending["spec"], "nodeName": "n1"}}
    w.on_pod(bound)
    assert parsed == ["x"] and w.pods["ns/a"] == real(bound)
    placement = w.cache.placement("ns/a")
    assert placement is not None and placement.node_name == "n1" and w.queues.pending() == 0
    w.on_pod({**bound, "metadata": {**bound["metadata"], "labels": {"x": "y"}}})  # a real change: parsed
    assert parsed == ["x", "x"]


def test_a_late_event_from_before_the_binding_does_not_make_a_bound_pod_pending_again() -> None:
    w = world()
    pending = pod("a", group=None)
    w.on_pod(pending)
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind)
    w.start_binding(action.workload, ["ns/a"])
    annotated = {
        **pending,
        "metadata": {**pending["metadata"], "annotations": action.assignments[0].annotations()},
    }
    w.bound("ns/a")  # the bind call returned before the watch delivered the annotation's event
    w.on_pod(annotated)
    assert w.queues.pending() == 0 and w.cycle.run(now=0).actions == []
    assert w.cache.is_bound("ns/a")


def _bound_with(obj: Obj, node: str, annotations: dict[str, str]) -> Obj:
    """``obj`` as the binding leaves it: ``nodeName`` set, the Binding's annotations copied onto it."""
    meta = {**obj["metadata"], "annotations": {**obj["metadata"]["annotations"], **annotations}}
    return {**obj, "metadata": meta, "spec": {**obj["spec"], "nodeName": node}}


def test_the_binding_event_with_the_assignment_it_wrote_is_read_without_parsing_the_pod(
    monkeypatch: Any,
) -> None:
    import motherboard.scheduler.service.world as world_module

    w = world()
    parsed: list[str] = []
    real = world_module.pod_info
    monkeypatch.setattr(world_module, "pod_info", lambda obj: parsed.append("x") or real(obj))
    pending = pod("a", 2, group=None)
    w.on_pod(pending)
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind)
    w.start_binding(action.workload, ["ns/a"])
    (placement,) = action.placements
    bound = _bound_with(pending, placement.node_name, action.assignments[0].annotations())
    w.on_pod(bound)
    w.bound("ns/a")
    assert parsed == ["x"] and w.pods["ns/a"] == real(bound)
    assert w.pods["ns/a"].assignment == action.assignments[0]
    assert w.cache.is_bound("ns/a") and w.cache.placement("ns/a") == placement


def _timed_out_binding(w: World, name: str) -> tuple[Obj, Bind]:
    pending = pod(name, 2, group=None)
    w.on_pod(pending)
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind)
    w.start_binding(action.workload, [f"ns/{name}"])
    bound = _bound_with(pending, action.placements[0].node_name, action.assignments[0].annotations())
    return bound, action


def used_gpus(w: World) -> int:
    return sum(len(p.picks) for p in w.cache.placements())


def test_a_binding_that_timed_out_after_the_watch_showed_the_pod_bound_stays_charged_once() -> None:
    w = world()
    bound, action = _timed_out_binding(w, "a")
    w.on_pod(bound)  # the server bound it ...
    w.binding_failed("ns/a")  # ... but the call timed out
    placement = w.cache.placement("ns/a")
    assert placement is not None and w.cache.is_bound("ns/a") and used_gpus(w) == 2
    assert placement.node_name == action.placements[0].node_name
    assert w.queues.pending() == 0 and w.cycle.run(now=0).actions == []
    w.on_pod(bound, deleted=True)
    assert w.cache.placements() == []


def test_a_binding_that_timed_out_before_the_watch_showed_the_pod_bound_is_charged_when_it_does() -> None:
    w = world()
    queue = {"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": "team"},
             "spec": {"namespaces": ["ns"], "quotas": [{"resource": "nvidia.com/gpu", "nominal": 8}]}}  # fmt: skip
    w.on_queue(queue)
    bound, action = _timed_out_binding(w, "a")
    w.binding_failed("ns/a")  # the call timed out; the watch has not shown the binding yet
    assert w.cache.placement("ns/a") is None and w.queues.pending() == 1
    w.on_pod(bound)  # now it does
    placement = w.cache.placement("ns/a")
    assert placement is not None and w.cache.is_bound("ns/a") and used_gpus(w) == 2
    assert placement.picks == action.placements[0].picks, "charged at the devices its Binding wrote"
    assert w.queues.pending() == 0 and w.cycle.run(now=0).actions == []
    assert w.cycle.tree.usage("team").get_amount("nvidia.com/gpu") == 2000


def test_a_timed_out_binding_placed_again_before_the_watch_caught_up_is_charged_where_it_is_bound() -> None:
    w = world()
    bound, first = _timed_out_binding(w, "a")
    w.binding_failed("ns/a")
    # The pod is pending again; a later cycle assumes it (maybe elsewhere), then the watch shows the first
    # binding, then the second call is refused (409: already bound).
    w.queues.notify_capacity_freed()
    (second,) = w.cycle.run(now=100).actions
    assert isinstance(second, Bind)
    w.start_binding(second.workload, ["ns/a"])
    w.on_pod(bound)
    w.binding_failed("ns/a")
    placement = w.cache.placement("ns/a")
    assert placement is not None and w.cache.is_bound("ns/a") and used_gpus(w) == 2
    assert (placement.node_name, placement.picks) == (
        first.placements[0].node_name,
        first.placements[0].picks,
    )
    assert w.queues.pending() == 0


def test_the_placer_is_rebuilt_from_the_shapes_of_the_pods_seen() -> None:
    w = world()
    assert w.cycle.placer.context.workload == ()  # nothing seen yet: the plugins weigh no workload
    w.on_pod(pod("a", 2, group=None, node="n1", devices=["n1-gpu3", "n1-gpu5"]))
    w.on_pod(pod("b", 1, group=None))
    w.on_pod({**pod("c", 1, group=None), "spec": {"schedulerName": "default-scheduler", "containers": []}})
    w.before_cycle()  # starts the rebuild on the worker thread; this cycle keeps the old placer
    assert w.placer_update is not None
    built = w.placer_update.result(timeout=30)
    w.before_cycle()  # the next cycle swaps it in
    assert w.cycle.placer is built and w.placer_update is None
    assert sorted(p.name for p in built.context.workload) == ["ns/a", "ns/b"]  # not another scheduler's


def test_a_failed_rebuild_keeps_the_placer_in_use(monkeypatch: Any) -> None:
    w = world()
    before = w.cycle.placer

    def broken(*args: object) -> None:
        raise RuntimeError("cutting-stock LP failed")

    monkeypatch.setattr("motherboard.scheduler.service.world.Placer", broken)
    w.on_pod(pod("b", 1, group=None))
    w.before_cycle()
    assert w.placer_update is not None
    w.placer_update.exception(timeout=30)
    w.before_cycle()  # logs the failure; scheduling goes on with the placer it had
    assert w.cycle.placer is before and w.placer_update is None
