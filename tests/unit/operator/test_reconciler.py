"""The reconciler does not resend its own writes before the watch shows them (expectations)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from motherboard.operator import reconciler as reconciler_module
from motherboard.operator.observed import ObservedPod
from motherboard.operator.reconciler import Reconciler
from motherboard.operator.store import Store
from tests.unit.api.builders import aijob, task


class RecordingKube:
    """Records the calls a reconcile makes; answers them as an API server would, minus the watch."""

    def __init__(self, store: Store) -> None:
        self.calls: list[tuple[str, str]] = []
        self.store = store

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.endswith("/pods"):
            self.calls.append(("create", body["metadata"]["name"]))
        return body

    async def delete(self, path: str, body: Any = None) -> dict[str, Any]:
        self.calls.append(("delete", path.rsplit("/", 1)[-1]))
        return {}

    async def patch(self, path: str, body: Any, content_type: str = "") -> dict[str, Any]:
        self.calls.append(("patch", path))
        patched = copy.deepcopy(self.store.jobs[("ns", "job")])
        patched["metadata"]["resourceVersion"] = "2"
        return {**patched, **body}


def job() -> dict[str, Any]:
    body = aijob(tasks=[task(replicas=2)])
    body["metadata"].update(namespace="ns", uid="uid", resourceVersion="1")
    return body


def test_pods_created_but_not_yet_seen_are_not_created_again() -> None:
    store = Store()
    kube = RecordingKube(store)
    store.jobs[("ns", "job")] = job()
    reconciler = Reconciler(kube, store.pods_of, store.job, dict)  # type: ignore[arg-type]

    async def twice() -> None:
        await reconciler.reconcile(("ns", "job"))
        await reconciler.reconcile(("ns", "job"))  # before the watch brings the pods back

    asyncio.run(twice())
    assert [c for c in kube.calls if c[0] == "create"] == [
        ("create", "job-worker-0"),
        ("create", "job-worker-1"),
    ]


def test_pods_deleted_but_still_seen_alive_are_not_deleted_again_unless_a_new_attempt_reuses_the_name() -> (
    None
):
    store = Store()
    kube = RecordingKube(store)
    body = job()
    body["spec"]["runPolicy"] = {"suspend": True}
    store.jobs[("ns", "job")] = body
    store.job_pods[("ns", "job")] = {
        f"job-worker-{i}": ObservedPod(f"job-worker-{i}", "worker", i, phase="Running", node="n1")
        for i in range(2)
    }
    reconciler = Reconciler(kube, store.pods_of, store.job, dict)  # type: ignore[arg-type]

    async def run() -> None:
        await reconciler.reconcile(("ns", "job"))
        await reconciler.reconcile(("ns", "job"))  # the deletions have not shown up yet
        # A pod of another attempt under the same name is a different pod: it may be deleted.
        store.job_pods[("ns", "job")]["job-worker-0"] = ObservedPod(
            "job-worker-0", "worker", 0, phase="Running", node="n1", attempt=1
        )
        await reconciler.reconcile(("ns", "job"))

    asyncio.run(run())
    deletes = [name for kind, name in kube.calls if kind == "delete"]
    assert deletes == ["job-worker-0", "job-worker-1", "job-worker-0"]


def test_a_job_whose_name_its_pods_would_be_refused_for_fails_once_with_the_reason() -> None:
    # Admitted while no webhook checked it: before, every pod create got 422, retried every 2 s forever.
    store = Store()
    kube = RecordingKube(store)
    body = job()
    body["metadata"]["name"] = "n" * 70
    store.jobs[("ns", "job")] = body
    posted: list[dict[str, Any]] = []

    async def create(path: str, obj: dict[str, Any]) -> dict[str, Any]:
        if path.endswith("/events"):
            posted.append(obj)
        return await RecordingKube.create(kube, path, obj)

    kube.create = create  # type: ignore[method-assign]
    reconciler = Reconciler(kube, store.pods_of, store.job, dict)  # type: ignore[arg-type]
    asyncio.run(reconciler.reconcile(("ns", "job")))
    assert [c for c in kube.calls if c[0] == "create"] == []
    assert [c[0] for c in kube.calls] == ["patch"]  # the status: Failed, InvalidSpec
    assert [(e["reason"], e["message"][:40]) for e in posted] == [
        ("InvalidSpec", "metadata.name: 70 characters, at most 63")
    ]


def test_a_pod_created_and_gone_before_the_watch_showed_it_is_created_again_when_the_expectation_expires(
    monkeypatch: Any,
) -> None:
    # The watch never shows the pod alive (created, then deleted before a reconcile looked): the expectation
    # held its creation back, and with no more events the job waited forever for a pod nobody would create.
    monkeypatch.setattr(reconciler_module, "EXPECTATION_SECONDS", 0.3)
    store = Store()
    kube = RecordingKube(store)
    store.jobs[("ns", "job")] = job()
    reconciler = Reconciler(kube, store.pods_of, store.job, dict)  # type: ignore[arg-type]

    async def run() -> None:
        reconciler.trigger(("ns", "job"))
        await asyncio.sleep(0.05)
        reconciler.trigger(("ns", "job"))  # an event before the pods show: nothing is sent again
        await asyncio.sleep(1.6)  # no event at all: the expectation expires and the job is planned again

    asyncio.run(run())
    creates = [name for kind, name in kube.calls if kind == "create"]
    assert creates[:2] == ["job-worker-0", "job-worker-1"]
    assert creates[2:4] == ["job-worker-0", "job-worker-1"], creates
