"""The binder against a fake API: one Binding per pod carrying its assignment; a gang that fails deletes
the members that were, or may have been, bound."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from motherboard.kube import ApiError
from motherboard.scheduler.cycle import Bind
from motherboard.scheduler.service.binder import Binder
from motherboard.scheduler.service.world import World
from tests.unit.scheduler.service.test_world import pod, world


class FakeApi:
    def __init__(self, fail: dict[str, BaseException] | None = None) -> None:
        self.fail = fail or {}
        self.binds: list[tuple[str, str, dict[str, str] | None]] = []
        self.deleted: list[str] = []
        self.urgent: list[bool] = []

    async def bind(
        self, ns: str, name: str, uid: str, node: str, annotations: dict[str, str] | None = None
    ) -> None:
        await asyncio.sleep(0)
        if name in self.fail:
            raise self.fail[name]
        self.binds.append((name, node, annotations))

    async def delete(self, ns: str, name: str, uid: str, *, urgent: bool = False) -> None:
        self.deleted.append(name)
        self.urgent.append(urgent)

    async def event(self, *_: Any) -> None:
        return None


def bind_action(w: World) -> Bind:
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind)
    return action


def run(binder: Binder, action: Bind) -> None:
    async def main() -> None:
        binder.dispatch([action], time.monotonic())
        await binder.drain()

    asyncio.run(main())


def test_each_pod_is_bound_by_one_call_that_carries_its_device_assignment() -> None:
    w = world()
    for i in range(2):
        w.on_pod(pod(f"m{i}", 2, size=2))
    api = FakeApi()
    action = bind_action(w)
    run(Binder(w, api), action)  # type: ignore[arg-type]
    assert len(api.binds) == 2 and api.deleted == []
    for (name, node, written), placement in zip(sorted(api.binds), action.placements, strict=True):
        assert written is not None and placement.pod.name == f"ns/{name}"
        assignment = json.loads(written["motherboard.io/device-assignment"])
        assert assignment["node"] == node == placement.node_name
        assert len(assignment["containers"][0]["devices"]) == 2
    assert all(w.cache.is_bound(p.pod.name) for p in action.placements)


def test_a_gang_member_refused_deletes_the_bound_ones_and_an_unanswered_one_too() -> None:
    w = world()
    for i in range(3):
        w.on_pod(pod(f"m{i}", 1, size=3))
    refused = ApiError(409, "Conflict", "no")
    api = FakeApi({"m1": refused, "m2": aiohttp.ServerTimeoutError("no answer")})
    run(Binder(w, api), bind_action(w))  # type: ignore[arg-type]
    # m0 was bound: deleted. m2's call got no answer, so it may be bound: deleted. m1 was refused: kept.
    assert sorted(api.deleted) == ["m0", "m2"]
    assert w.cache.placement("ns/m1") is None and w.cache.placement("ns/m2") is None
    assert w.cache.is_bound("ns/m0"), "charged until its deletion is seen"


def test_a_lone_pod_whose_call_failed_is_pending_again_and_nothing_is_deleted() -> None:
    w = world()
    w.on_pod(pod("solo", 1, group=None))
    api = FakeApi({"solo": aiohttp.ServerTimeoutError("no answer")})
    run(Binder(w, api), bind_action(w))  # type: ignore[arg-type]
    assert api.deleted == [] and w.cache.placement("ns/solo") is None and w.queues.pending() == 1
