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
