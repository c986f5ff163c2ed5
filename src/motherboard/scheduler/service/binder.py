"""Carry out a cycle's actions against the API server: bind gangs, explain waits, preempt.

**One call per pod.** Each member is bound with a Binding whose ``metadata.annotations`` carry its device
assignment (``motherboard.io/device-assignment``): the API server copies a Binding's annotations onto the
pod in the same write that sets ``spec.nodeName`` (``assignPod`` → ``setPodHostAndAnnotations``), so a pod
is never bound without its assignment, and never annotated without being bound. The kubelet sees the pod
only once it is bound, so the device plugin finds the assignment there (docs/device-assignment.md).

**Binding a gang is all-or-nothing, as far as Kubernetes allows.** A Binding cannot be undone, so:

1. every member is bound concurrently;
2. if a member's binding fails, the members already bound are **deleted** (with a UID precondition, so
   only this incarnation): the owner (the AIJob operator) recreates them and the gang is scheduled again,
   so no half gang keeps devices. A member whose call failed without an answer from the server (a timeout,
   a broken connection) may have been bound all the same: it is deleted too.
3. A scheduler that dies between 1 and 2 leaves the half gang to the next leader, which deletes its bound
   members (see :mod:`.recovery`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable

from motherboard.api.constants import REASON_NEVER_FITS, REASON_PREEMPTED_BY_SCHEDULER
from motherboard.kube import ApiError
from motherboard.scheduler.cycle import NO_QUEUE, Action, Bind, Evict, Pending
from motherboard.scheduler.service import metrics
from motherboard.scheduler.service.api import SchedulerApi
from motherboard.scheduler.service.objects import PodInfo
from motherboard.scheduler.service.world import World

log = logging.getLogger(__name__)
_SCHEDULED = metrics.ATTEMPTS.labels("scheduled")
_BIND_SECONDS = metrics.EXTENSION_POINT.labels("bind")
TOO_MANY_REQUESTS = 429
NOT_FOUND = 404
CONFLICT = 409


class Binder:
    """Runs actions as background tasks on the event loop; callbacks update the :class:`World`."""

    def __init__(self, world: World, api: SchedulerApi) -> None:
        self.world, self.api = world, api
        self.tasks: set[asyncio.Task[None]] = set()
        self.binding = 0
        """Pods assumed and handed over but not yet bound or failed: the loop schedules only so far ahead."""
        self._explained: dict[str, str] = {}
        self.undo_failed: list[tuple[str, str, str, str]] = []
        """Undo deletions that failed (the API server unreachable): retried by :meth:`retry_undo`."""

    def dispatch(self, actions: Iterable[Action], started: float) -> None:
        for action in actions:
            if isinstance(action, Bind):
                self.world.start_binding(action.workload, [p.pod.name for p in action.placements])
                self.binding += len(action.placements)
                self._spawn(self._bind(action, started))
            elif isinstance(action, Evict):
                self.world.start_preemption(action)
                metrics.ATTEMPTS.labels("preempting").inc()
                self._spawn(self._preempt(action))
            else:
                metrics.ATTEMPTS.labels("unschedulable").inc()
                queue = action.workload.queue
                metrics.WAITING.labels(queue if queue != NO_QUEUE else "", action.reason).inc()
                self._spawn(self._explain(action))

    def undo(self, pods: Iterable[PodInfo], why: str) -> None:
        """Delete bound pods (recovery of a gang that cannot complete)."""
        for info in pods:
            self._spawn(self._undo(info.namespace, info.name, info.uid, f"deleting this pod: {why}"))

    def retry_undo(self) -> None:
        """Send again the undo deletions that failed (called by the loop now and then)."""
        failed, self.undo_failed = self.undo_failed, []
        for ns, name, uid, message in failed:
            self._spawn(self._undo(ns, name, uid, message))

    async def drain(self) -> None:
        """Wait for every action in flight (shutdown, tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduler action failed", exc_info=task.exception())

    # --- bind -------------------------------------------------------------------------------------------------
    async def _bind(self, action: Bind, started: float) -> None:
        try:
            await self._bind_gang(action, started)
        finally:
            self.binding -= len(action.placements)

    async def _bind_gang(self, action: Bind, started: float) -> None:
        keys = [p.pod.name for p in action.placements]
        infos = [self.world.pods.get(k) for k in keys]
        if any(i is None for i in infos):  # a member was deleted while the cycle ran
            for key in keys:
                self.world.binding_failed(key)
            return
        pods = [i for i in infos if i is not None]
        # 1. Bind every member concurrently, each with its device assignment in the same call.
        t = time.perf_counter()
        calls = [
            self.api.bind(i.namespace, i.name, i.uid, p.node_name, a.annotations() if a.containers else None)
            for i, p, a in zip(pods, action.placements, action.assignments, strict=True)
        ]
        results: list[BaseException | None]
        if len(calls) == 1:  # most workloads are one pod: no gather (and no task) around its call
            try:
                await calls[0]
                results = [None]
            except Exception as exc:  # what gather(return_exceptions=True) would return
                results = [exc]
        else:
            results = await asyncio.gather(*calls, return_exceptions=True)
        _BIND_SECONDS.observe(time.perf_counter() - t)
        failed = [i for i, r in zip(pods, results, strict=True) if isinstance(r, BaseException)]
        if not failed:
            for key in keys:
                self.world.bound(key)
            metrics.BOUND.inc(len(keys))
            _SCHEDULED.inc()
            metrics.E2E.observe(time.monotonic() - started)
            return
        # 2. A member failed: delete the members that were (or may have been) bound, so no half gang holds
        # devices.
        metrics.BINDING_ERRORS.labels("bind").inc(len(failed))
        metrics.ATTEMPTS.labels("error").inc()
        undo: list[PodInfo] = []
        for info, result in zip(pods, results, strict=True):
            if not isinstance(result, BaseException):
                undo.append(info)
            elif len(pods) > 1 and not isinstance(result, ApiError):
                undo.append(info)  # no answer: the server may have bound it all the same
        # The failed members wait for the undone ones to be gone, then the gang is grouped afresh: queued at
        # once, they were admitted again beside the bound members' charge (or alone, as late members).
        if len(pods) > 1:
            self.world.quarantine(action.workload.key, [i.key for i in undo])
        for info, result in zip(pods, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("binding %s failed: %r", info.key, result)
                self.world.binding_failed(info.key)
            else:
                self.world.bound(info.key)  # charged until the deletion is seen
        if undo:
            names = ", ".join(i.name for i in failed)
            message = f"gang member(s) {names} could not be bound; deleting this one"
            await asyncio.gather(
                *(self._undo(i.namespace, i.name, i.uid, message) for i in undo), return_exceptions=True
            )

    async def _undo(self, ns: str, name: str, uid: str, message: str) -> None:
        # The deletion first and unthrottled (the half gang must not run); the Event is best effort after.
        try:
            await self.api.delete(ns, name, uid, urgent=True)
        except ApiError as exc:
            if exc.status not in (NOT_FOUND, CONFLICT):  # gone already, or another incarnation by now
                log.warning("deleting %s/%s of a broken gang failed: %s", ns, name, exc)
                self.undo_failed.append((ns, name, uid, message))
        except (OSError, TimeoutError) as exc:
            log.warning("deleting %s/%s of a broken gang failed: %s", ns, name, exc)
            self.undo_failed.append((ns, name, uid, message))
        await _quiet(self.api.event(ns, name, uid, "Warning", "GangBindingFailed", message))

    # --- explain ----------------------------------------------------------------------------------------------
    async def _explain(self, action: Pending) -> None:
        """PodScheduled=False with the reason, and a FailedScheduling event, only when the reason changes."""
        if len(self._explained) > 4 * len(self.world.pods) + 1000:
            self._explained = {k: v for k, v in self._explained.items() if k in self.world.pods}
        pods = list(self.world.pending.get(action.workload.key, {}).values())
        calls = []
        for info in pods:
            if self._explained.get(info.key) == action.message:
                continue
            self._explained[info.key] = action.message
            reason = REASON_NEVER_FITS if action.never else "Unschedulable"
            condition = {"type": "PodScheduled", "status": "False", "reason": reason}
            calls.append(
                self.api.condition(
                    info.namespace, info.name, {**condition, "message": action.message}, best_effort=True
                )
            )
            calls.append(
                self.api.event(
                    info.namespace, info.name, info.uid, "Warning", "FailedScheduling", action.message
                )
            )
        await asyncio.gather(*(_quiet(c) for c in calls))

    # --- preempt ----------------------------------------------------------------------------------------------
    async def _preempt(self, action: Evict) -> None:
        """Check each victim's eviction (PDBs), mark it (DisruptionTarget), delete it; nominate the preemptor."""
        metrics.PREEMPTION_ATTEMPTS.inc()
        message = f"preempted by {action.preemptor.key}: {action.message}"
        results = await asyncio.gather(
            *(self._evict(key, message) for key in action.victim_pods), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        if refused:
            log.warning("preemption for %s refused (%s); victims stay", action.preemptor.key, refused[0])
            self.world.preemption_failed(action)
            return
        metrics.PREEMPTIONS.inc(len(action.victim_pods))
        calls = []
        for placement in action.nominated:
            info = self.world.pods.get(placement.pod.name)
            if info is not None:
                calls.append(self.api.nominate(info.namespace, info.name, placement.node_name))
                note = f"{action.message}; nominated to {placement.node_name} once the victims have left"
                calls.append(
                    self.api.event(info.namespace, info.name, info.uid, "Normal", "Preempting", note)
                )
        await asyncio.gather(*(_quiet(c) for c in calls))

    async def _evict(self, key: str, message: str) -> None:
        info = self.world.pods.get(key)
        if info is None:
            return
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": REASON_PREEMPTED_BY_SCHEDULER,
            "message": message,
        }
        try:
            await self.api.may_evict(info.namespace, info.name)  # PodDisruptionBudgets decide first
        except ApiError as exc:
            if exc.status == NOT_FOUND:
                return
            raise
        await self.api.condition(info.namespace, info.name, condition)
        await _quiet(self.api.event(info.namespace, info.name, info.uid, "Normal", "Preempted", message))
        try:
            await self.api.delete(info.namespace, info.name, info.uid)
        except ApiError as exc:
            if exc.status != NOT_FOUND:
                raise


async def _quiet(call: Awaitable[object]) -> None:
    # Explanations and events are best effort: a lost one is rewritten on the next change.
    try:
        await call
    except (ApiError, OSError, TimeoutError) as exc:
        log.info("best-effort write failed: %s", exc)
