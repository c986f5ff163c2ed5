"""Apply a lifecycle plan to the API server, one job at a time, coalescing bursts of events.

The store delivers events; this class turns "something about job X changed" into at most one reconcile of
X running at a time, with one more queued if events arrived meanwhile. That next pass waits
``COALESCE_SECONDS`` first: a job's pods change in bursts (created, bound, started, four at a time), and
one pass over the settled burst writes one status instead of one per pod event. The first reconcile of a
quiet job starts at once (Kubernetes' Job controller batches its syncs the same way, by one second).

Expectations, as in Kubernetes' controllers: pods this operator created or deleted are remembered until
the store shows the change (or ``EXPECTATION_SECONDS`` pass), so a reconcile that runs before our own
writes come back through the watch does not send them again. The plan itself is pure
(:mod:`.lifecycle`); here we only perform it: create and delete pods, write status, record Events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from motherboard.api.constants import GROUP, VERSION
from motherboard.api.manifests import explain
from motherboard.api.v1alpha1 import AIJob, DevicePoolSpec, JobPhase
from motherboard.kube.client import MERGE_PATCH, ApiError, Kube, ignore, path_for
from motherboard.operator import faults, metrics
from motherboard.operator.lifecycle import Event, Plan, plan
from motherboard.operator.names import name_problems
from motherboard.operator.observed import ObservedPod
from motherboard.operator.render import render_services
from motherboard.operator.serving import TaskServing

log = logging.getLogger(__name__)

Obj = dict[str, Any]
JobKey = tuple[str, str]
COALESCE_SECONDS = 1.0
EXPECTATION_SECONDS = 30.0
PodSource = Callable[[JobKey], Iterable[ObservedPod]]
JobSource = Callable[[JobKey], Obj | None]
PoolSource = Callable[[], Mapping[str, DevicePoolSpec]]
ServingSource = Callable[[AIJob], dict[str, TaskServing]]


def _rv(obj: Obj) -> int:
    # resourceVersions are etcd revisions; comparing them only chooses the fresher of two copies we hold.
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion", "0"))
    except ValueError:
        return 0


class Reconciler:
    """Serialises reconciles per job and performs their plans."""

    def __init__(self, kube: Kube, pods: PodSource, jobs: JobSource, pools: PoolSource) -> None:
        self._kube, self._pods, self._jobs, self._pools = kube, pods, jobs, pools
        self._running: dict[JobKey, asyncio.Task[None]] = {}
        self._again: set[JobKey] = set()
        self._written: dict[JobKey, Obj] = {}
        self._services_done: set[str] = set()
        self._timers: dict[JobKey, asyncio.TimerHandle] = {}
        self._expect_created: dict[JobKey, dict[str, tuple[float, int]]] = {}
        self._expect_deleted: dict[JobKey, dict[str, tuple[float, int]]] = {}
        self.serving: ServingSource | None = None
        """The model controller's plans for model-serving tasks (None: model serving is off)."""

    def trigger(self, key: JobKey) -> None:
        """Ask for a reconcile of ``key``; returns at once."""
        if key in self._running:
            self._again.add(key)
            return
        self._running[key] = asyncio.get_running_loop().create_task(self._loop(key))

    async def _loop(self, key: JobKey) -> None:
        try:
            while True:
                self._again.discard(key)
                await self._reconcile_safely(key)
                if key not in self._again:
                    return
                await asyncio.sleep(COALESCE_SECONDS)  # what arrives meanwhile joins the next pass
        finally:
            self._running.pop(key, None)

    async def _reconcile_safely(self, key: JobKey) -> None:
        started = time.perf_counter()
        try:
            await self.reconcile(key)
        except ApiError as exc:
            metrics.RECONCILE_ERRORS.labels(reason=exc.reason or str(exc.status)).inc()
            log.warning("reconcile %s/%s: %s; retrying", *key, exc)
            self._schedule(key, 2.0)
        except (OSError, TimeoutError) as exc:
            metrics.RECONCILE_ERRORS.labels(reason="Connection").inc()
            log.warning("reconcile %s/%s: API server unreachable (%s); retrying", *key, exc)
            self._schedule(key, 5.0)
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)

    def _schedule(self, key: JobKey, delay: float) -> None:
        if key in self._timers:
            self._timers[key].cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self.trigger, key)

    def _freshest(self, key: JobKey) -> Obj | None:
        seen = self._jobs(key)
        written = self._written.get(key)
        if seen is None:
            self._written.pop(key, None)
            return None
        same_object = written is not None and written["metadata"].get("uid") == seen["metadata"].get("uid")
        return written if same_object and written is not None and _rv(written) > _rv(seen) else seen

    async def reconcile(self, key: JobKey) -> None:
        body = self._freshest(key)
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            return
        uid = body["metadata"]["uid"]
        try:
            job = AIJob.model_validate(body)
        except ValidationError as exc:
            await self._reject(key, body, explain(exc))
            return
        names = name_problems(job)  # admitted without the webhook: its pods would be refused forever
        if names:
            await self._reject(key, body, "\n".join(names))
            return
        pods = list(self._pods(key))
        result = plan(job, uid, pods, datetime.now(UTC), self._pools(), self._serving_plans(job))
        live = {p.name for p in pods if not p.gone}
        # A deletion shows once that incarnation is deleting or gone; a new attempt's pod may reuse the name.
        alive = {(p.name, p.attempt) for p in pods if not p.deleting}
        created = _outstanding(self._expect_created, key, lambda name, _: name in live)
        deleted = _outstanding(self._expect_deleted, key, lambda name, attempt: (name, attempt) not in alive)
        held = [p["metadata"]["name"] for p in result.create if p["metadata"]["name"] in created]
        held += [name for name in result.delete if name in deleted]
        result.create = [p for p in result.create if p["metadata"]["name"] not in created]
        result.delete = [name for name in result.delete if name not in deleted]
        if held:
            # A change held back for an expectation must be planned again when it expires, even if no event
            # comes: a pod created and deleted between two reconciles never shows, and the job waited forever
            # for a pod nobody would create.
            wait = self._expiry(key, held) - time.monotonic() + 0.1
            result.requeue_after = max(0.1, min(wait, result.requeue_after or wait))
        await self._apply(key, job, uid, body, result, {p.name: p.attempt for p in pods})

    def _expiry(self, key: JobKey, names: Iterable[str]) -> float:
        """The earliest deadline among ``names``' expectations (monotonic seconds)."""
        deadlines = [
            expected[key][name][0]
            for expected in (self._expect_created, self._expect_deleted)
            for name in names
            if name in expected.get(key, {})
        ]
        return min(deadlines, default=time.monotonic())

    def _serving_plans(self, job: AIJob) -> dict[str, TaskServing] | None:
        tasks = [t for t in job.spec.tasks if t.model is not None]
        if not tasks:
            return None
        if self.serving is None:
            return {
                t.name: TaskServing(
                    t.name,
                    t.model.name,
                    False,
                    "ServingDisabled",
                    "this operator runs without an artifact endpoint (--artifact-port), so it serves no "
                    "models: enable it (the chart does by default)",
                    replicas=t.replicas,
                )
                for t in tasks
                if t.model is not None
            }
        return self.serving(job)

    async def _apply(
        self, key: JobKey, job: AIJob, uid: str, body: Obj, result: Plan, attempts: Mapping[str, int]
    ) -> None:
        """Perform ``result``; ``attempts``: the attempt of each pod as the plan saw it."""
        namespace, name = key
        if result.delete_job:
            await ignore(404, self._kube.delete(path_for(GROUP, VERSION, "aijobs", namespace, name)))
            return
        if uid not in self._services_done:
            for service in render_services(job, uid):
                await ignore(409, self._kube.create(path_for("", "v1", "services", namespace), service))
            self._services_done.add(uid)
        creates = [ignore(409, self._create_pod(namespace, pod)) for pod in result.create]
        deletes = [
            ignore(404, self._kube.delete(path_for("", "v1", "pods", namespace, pod)))
            for pod in result.delete
        ]
        await asyncio.gather(*creates, *deletes)
        until = time.monotonic() + EXPECTATION_SECONDS
        self._expect_created.setdefault(key, {}).update(
            (p["metadata"]["name"], (until, -1)) for p in result.create
        )
        self._expect_deleted.setdefault(key, {}).update(
            (name, (until, attempts.get(name, -1))) for name in result.delete
        )
        metrics.PODS_CREATED.inc(len(result.create))
        metrics.PODS_DELETED.inc(len(result.delete))
        new_status = result.status.to_wire()
        if new_status != body.get("status"):
            patched = await self._kube.patch(
                path_for(GROUP, VERSION, "aijobs", namespace, name) + "/status",
                {"status": new_status},
                MERGE_PATCH,
            )
            self._written[key] = patched
        for event in result.events:
            metrics.TRANSITIONS.labels(phase=result.status.phase.value).inc()
            await self._record(body, event)
        if result.requeue_after is not None:
            self._schedule(key, result.requeue_after)

    async def _create_pod(self, namespace: str, pod: Obj) -> Obj:
        await faults.before_pod_create()  # the fault suite's kill inside a gang's creates; else nothing
        return await self._kube.create(path_for("", "v1", "pods", namespace), pod)

    async def _reject(self, key: JobKey, body: Obj, problems: str) -> None:
        """A job the schema let through but the models refuse: Failed with the field-level reason."""
        status = {"phase": JobPhase.FAILED.value, "reason": "InvalidSpec", "message": problems}
        if (body.get("status") or {}).get("reason") != "InvalidSpec":
            await self._kube.patch(path_for(GROUP, VERSION, "aijobs", *key) + "/status", {"status": status})
            await self._record(body, Event("Warning", "InvalidSpec", problems))

    async def _record(self, body: Obj, event: Event) -> None:
        meta = body["metadata"]
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await self._kube.create(
            path_for("", "v1", "events", meta["namespace"]),
            {
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "AIJob",
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta["uid"],
                },
                "type": event.type,
                "reason": event.reason,
                "message": event.message[:1024],
                "source": {"component": "motherboard-operator"},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            },
        )

    def forget(self, key: JobKey, uid: str | None) -> None:
        """Drop what we remember about a deleted job."""
        self._written.pop(key, None)
        self._expect_created.pop(key, None)
        self._expect_deleted.pop(key, None)
        if uid:
            self._services_done.discard(uid)
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()


def _outstanding(
    expected: dict[JobKey, dict[str, tuple[float, int]]], key: JobKey, seen: Callable[[str, int], bool]
) -> set[str]:
    """Names of ``key``'s expected changes the store does not show yet; forgets the seen and the expired.

    Each expectation is ``name → (deadline, attempt)``; ``seen(name, attempt)`` says whether it shows.
    """
    names = expected.get(key)
    if not names:
        return set()
    now = time.monotonic()
    for name in [n for n, (until, attempt) in names.items() if until < now or seen(n, attempt)]:
        del names[name]
    if not names:
        del expected[key]
    return set(names)
