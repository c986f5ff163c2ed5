"""Half-bound gangs, whatever the timing of the kill: undone as a whole (members that ran alone included),
their pending members held back until the undone ones are gone, then scheduled together; never admitted
twice."""

from __future__ import annotations

import asyncio
from typing import Any

from motherboard.kube import ApiError
from motherboard.scheduler.cycle import Bind
from motherboard.scheduler.service.api import Throttle
from motherboard.scheduler.service.binder import Binder
from motherboard.scheduler.service.recovery import recover
from motherboard.scheduler.service.world import World
from tests.unit.scheduler.service.test_binder import FakeApi, bind_action, run
from tests.unit.scheduler.service.test_tenancy import queue
from tests.unit.scheduler.service.test_world import pod, world

Obj = dict[str, Any]


def finished(name: str, node: str, device: str) -> Obj:
    obj = pod(name, node=node, devices=[device])
    obj["status"]["phase"] = "Succeeded"
    return obj


def gone(w: World, *names: str) -> None:
    """The watch shows the deletions; the owner (the operator) recreates the pods, unbound."""
    for name in names:
        w.on_pod(pod(name), deleted=True)
    for name in names:
        w.on_pod(pod(name))


def test_a_member_that_ran_alone_and_finished_is_undone_with_the_bound_one() -> None:
    # Killed after binding m0 and m1; m0 ran alone and Succeeded before the restart. Counting only live
    # bound pods, the rest (m2, m3) waited forever for a 4-pod gang that could never be whole again.
    w = world()
    w.on_pod(finished("m0", "n0", "n0-gpu0"))
    w.on_pod(pod("m1", node="n0", devices=["n0-gpu1"]))
    w.on_pod(pod("m2"))
    w.on_pod(pod("m3"))
    binds, undo = recover(w)
    assert binds == [] and sorted(i.key for i in undo) == ["ns/m0", "ns/m1"]
    assert w.cycle.run(now=0).actions == []  # m2 and m3 wait for the deletions
    gone(w, "m0", "m1")
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind) and sorted(p.pod.name for p in action.placements) == [
        "ns/m0",
        "ns/m1",
        "ns/m2",
        "ns/m3",
    ]


def test_pending_members_listed_before_the_bound_ones_are_never_admitted_twice() -> None:
    # A relist in any order: m2 pending first (grouped under the gang's key), then the bound members
    # charge the gang's quota under that same key; queueing m2 there raised "already admitted".
    w = world()
    w.on_queue(queue("team", gpus=8, namespaces=("ns",)))
    w.on_pod(pod("m2", size=3))
    w.on_pod(pod("m0", node="n0", devices=["n0-gpu0"], size=3))
    w.on_pod(pod("m1", node="n0", devices=["n0-gpu1"], size=3))
    w.rebuild_tree()  # a Queue event pushes every pending workload again
    result = w.cycle.run(now=0)  # raised ValueError: workload ns/job is already admitted
    assert [type(a).__name__ for a in result.actions] == ["Bind"]  # m2, a late member of its own


def test_after_a_failed_gang_binding_the_refused_member_waits_for_the_undone_ones() -> None:
    w = world()
    for i in range(3):
        w.on_pod(pod(f"m{i}", 1, size=3))
    api = FakeApi({"m1": ApiError(409, "Conflict", "no")})
    run(Binder(w, api), bind_action(w))  # type: ignore[arg-type]
    assert sorted(api.deleted) == ["m0", "m2"] and all(api.urgent)
    assert w.cycle.run(now=10).actions == []  # before: m1 was queued alone beside the gang's charge
    gone(w, "m0", "m2")
    (action,) = w.cycle.run(now=20).actions
    assert isinstance(action, Bind) and len(action.placements) == 3


def test_undo_deletions_bypass_the_throttle_and_are_retried_until_taken() -> None:
    w = world()
    for i in range(2):
        w.on_pod(pod(f"m{i}", 1, size=2))
    api = FakeApi({"m1": ApiError(409, "Conflict", "no")})
    binder = Binder(w, api)  # type: ignore[arg-type]
    calls = 0

    async def flaky_delete(ns: str, name: str, uid: str, *, urgent: bool = False) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("connection reset")
        api.deleted.append(name)
        api.urgent.append(urgent)

    api.delete = flaky_delete  # type: ignore[method-assign]
    run(binder, bind_action(w))
    assert api.deleted == [] and len(binder.undo_failed) == 1

    async def again() -> None:
        binder.retry_undo()
        await binder.drain()

    asyncio.run(again())
    assert api.deleted == ["m0"] and api.urgent == [True] and binder.undo_failed == []


def test_bindings_take_the_throttles_tokens_before_explanations() -> None:
    # One bucket for all: 300 pending pods' explanations starved the bindings at --qps=5.
    throttle = Throttle(qps=20, concurrency=64)
    order: list[str] = []

    async def call(name: str, best_effort: bool) -> None:
        async with throttle.lane(best_effort):
            order.append(name)

    async def scenario() -> None:
        explanations = [asyncio.create_task(call(f"explain-{i}", True)) for i in range(30)]
        await asyncio.sleep(0.01)  # the burst's 20 tokens went to the first explanations
        binds = [asyncio.create_task(call(f"bind-{i}", False)) for i in range(3)]
        await asyncio.gather(*explanations, *binds)

    asyncio.run(scenario())
    first_bind = min(order.index(f"bind-{i}") for i in range(3))
    last_bind = max(order.index(f"bind-{i}") for i in range(3))
    assert last_bind - first_bind == 2, order  # the three bindings went one after the other
    assert all(name.startswith("explain") for name in order[last_bind + 1 :])
    assert len(order) == 33 and last_bind < 25, order
