"""The list+watch reflector: upserts from the list, watch events, and deletes for what vanished unseen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from motherboard.kube import ApiError
from motherboard.kube.reflector import Reflector

Obj = dict[str, Any]


def pod(name: str, version: int, **labels: str) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "resourceVersion": str(version),
            "labels": labels,
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"nodeName": "n1"},
    }


class FakeKube:
    """Answers one list per entry of ``lists`` and one watch per entry of ``watches`` (then blocks)."""

    def __init__(self, lists: list[list[Obj]], watches: list[list[Obj]]) -> None:
        self.lists, self.watches = lists, watches
        self.watched_from: list[str] = []

    async def list(self, path: str, **params: str) -> Obj:
        items = self.lists.pop(0)
        version = max((int(i["metadata"]["resourceVersion"]) for i in items), default=1)
        return {"items": items, "metadata": {"resourceVersion": str(version)}}

    async def watch(self, path: str, version: str, **params: str) -> AsyncIterator[Obj]:
        self.watched_from.append(version)
        if not self.watches:
            await asyncio.Event().wait()
        for event in self.watches.pop(0):
            yield event


async def run_until(reflector: Reflector, done: asyncio.Event) -> None:
    task = asyncio.create_task(reflector.run())
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        task.cancel()


def test_list_then_watch_from_the_lists_version_then_relist_on_gone() -> None:
    expired = {"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "too old"}}
    kube = FakeKube(
        lists=[[pod("a", 5), pod("b", 6)], [pod("a", 9)]],
        watches=[[{"type": "MODIFIED", "object": pod("a", 7, team="x")}, expired]],
    )
    seen: list[tuple[str, bool, Obj]] = []
    done = asyncio.Event()

    def handler(obj: Obj, deleted: bool) -> None:
        seen.append((obj["metadata"]["name"], deleted, obj))
        if len(seen) == 5:
            done.set()

    reflector = Reflector(kube, "/api/v1/pods", handler)  # type: ignore[arg-type]
    asyncio.run(run_until(reflector, done))
    assert [(name, deleted) for name, deleted, _ in seen] == [
        ("a", False),  # the first list
        ("b", False),
        ("a", False),  # the watch, from the list's resourceVersion
        ("b", True),  # the relist after 410 Gone: b vanished while the watch was down
        ("a", False),
    ]
    assert kube.watched_from[0] == "6" and reflector.relists == 1
    assert all("managedFields" not in obj["metadata"] for _, _, obj in seen)
    # What the delete handler got for b is its identity and labels, not the whole object.
    assert seen[3][2] == {"metadata": {"name": "b", "namespace": "ns", "uid": "uid-b", "labels": {},
                                       "resourceVersion": "6"}}  # fmt: skip


def test_an_optional_kind_without_its_crd_counts_as_synced_and_empty() -> None:
    class NoCrd(FakeKube):
        async def list(self, path: str, **params: str) -> Obj:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

    reflector = Reflector(NoCrd([], []), "/apis/x/v1/things", lambda o, d: None, optional=True)  # type: ignore[arg-type]

    async def main() -> None:
        task = asyncio.create_task(reflector.run())
        await asyncio.wait_for(reflector.synced.wait(), timeout=5)
        task.cancel()

    asyncio.run(main())
    assert reflector.synced.is_set()


def test_a_required_kind_that_fails_is_not_synced() -> None:
    class Broken(FakeKube):
        async def list(self, path: str, **params: str) -> Obj:
            raise ApiError(403, "Forbidden", "pods is forbidden")

    reflector = Reflector(Broken([], []), "/api/v1/pods", lambda o, d: None)  # type: ignore[arg-type]

    async def main() -> None:
        task = asyncio.create_task(reflector.run())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reflector.synced.wait(), timeout=0.3)
        task.cancel()

    asyncio.run(main())


def test_an_object_the_handler_cannot_take_is_reported_and_skipped_and_the_rest_go_on() -> None:
    # A deeply nested inventory raised RecursionError in a handler and killed the operator's node watch.
    kube = FakeKube(
        lists=[[pod("a", 5), pod("bad", 6), pod("b", 7)]],
        watches=[
            [{"type": "MODIFIED", "object": pod("bad", 8)}, {"type": "MODIFIED", "object": pod("c", 9)}]
        ],
    )
    taken: list[str] = []
    reported: list[tuple[str, str]] = []
    done = asyncio.Event()

    def handler(obj: Obj, deleted: bool) -> None:
        if obj["metadata"]["name"] == "bad":
            raise RecursionError("maximum recursion depth exceeded")
        taken.append(obj["metadata"]["name"])
        if obj["metadata"]["name"] == "c":
            done.set()

    def on_error(obj: Obj, exc: Exception) -> None:
        reported.append((obj["metadata"]["name"], type(exc).__name__))

    reflector = Reflector(kube, "/api/v1/pods", handler, on_error=on_error)  # type: ignore[arg-type]
    asyncio.run(run_until(reflector, done))
    assert taken == ["a", "b", "c"]
    assert reported == [("bad", "RecursionError"), ("bad", "RecursionError")]
    assert reflector.skipped == 2 and reflector.relists == 0


class BrokenKube(FakeKube):
    """Lists fine; every watch dies with an error no client class covers (as aiohttp's LineTooLong did)."""

    async def watch(self, path: str, version: str, **params: str) -> AsyncIterator[Obj]:
        self.watched_from.append(version)
        raise RuntimeError("Got more than 524288 bytes when reading")
        yield {}  # an async generator


def test_a_watch_that_keeps_breaking_relists_and_turns_unhealthy_but_never_dies() -> None:
    kube = BrokenKube(lists=[[pod("a", 1)] for _ in range(20)], watches=[])
    reflector = Reflector(kube, "/api/v1/pods", lambda obj, deleted: None, backoff=0.001)  # type: ignore[arg-type]

    async def scenario() -> tuple[bool, bool, bool]:
        task = asyncio.create_task(reflector.run())
        await reflector.synced.wait()
        await asyncio.sleep(0)
        first = reflector.healthy
        while reflector.failures < 4:
            await asyncio.sleep(0.001)
        alive = not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return first, alive, reflector.healthy

    healthy_at_first, alive, healthy_after_cancel = asyncio.run(scenario())
    assert healthy_at_first and alive
    assert reflector.failures >= 4 and "524288" in reflector.last_error
    assert not healthy_after_cancel  # stopped: not running, hence not healthy


def test_a_watch_that_answers_again_is_healthy_again() -> None:
    kube = FakeKube(
        lists=[[pod("a", 1)], [pod("a", 2)]], watches=[[{"type": "MODIFIED", "object": pod("a", 3)}]]
    )
    reflector = Reflector(kube, "/api/v1/pods", lambda obj, deleted: None)  # type: ignore[arg-type]
    reflector.failures = 5

    async def scenario() -> bool:
        task = asyncio.create_task(reflector.run())
        while reflector.failures:
            await asyncio.sleep(0.001)
        healthy = reflector.healthy
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return healthy

    assert asyncio.run(scenario())
