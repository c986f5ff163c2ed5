"""The few API calls the scheduler makes, as plain JSON over the shared client, with a QPS limit.

Each call is one request: no model objects are built or parsed on the hot path (the answers of bind and
patch are read only for their status). ``Throttle`` caps the request rate (``--qps``, 0: unlimited) and
the number in flight (``--concurrency``), so a burst of bindings cannot starve the watches.

**Two lanes.** Deleting the bound members of a gang that cannot complete (a failed binding, a half-bound
gang found on restart) is a correctness write: it is ``urgent`` and bypasses the throttle. Queued behind
best-effort explanations and Events at ``--qps=5`` it was applied 22 s after it was logged, and the half
gang's members ran alone meanwhile.

**Fault injection.** ``MOTHERBOARD_FAULT_KILL_AFTER_BINDS=k`` SIGKILLs the process right after its k-th
successful Binding: the fault suite kills the scheduler inside a gang's binding window on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

from motherboard.api.constants import SCHEDULER_NAME
from motherboard.kube import Kube
from motherboard.kube.client import STRATEGIC_MERGE_PATCH

Obj = dict[str, Any]
log = logging.getLogger(__name__)
KILL_AFTER_BINDS_ENV = "MOTHERBOARD_FAULT_KILL_AFTER_BINDS"


def kill_after_binds() -> int:
    """The fault-injection point: SIGKILL after this many successful Bindings (0: never)."""
    try:
        return max(0, int(os.environ.get(KILL_AFTER_BINDS_ENV, "0")))
    except ValueError:
        return 0


class Throttle:
    """A token bucket (``qps``, burst ``qps``) with two lanes, plus a cap on concurrent calls.

    Binding and preemption writes take tokens first; **best-effort** writes (``PodScheduled`` explanations,
    Events, nominations) only get a token when no such write is waiting. One bucket for all let the
    explanations of 300 pending pods (two writes each, again whenever their message changes) starve the
    bindings at ``--qps=5``: the gangs they had placed held their devices for minutes while the rest waited
    as "Insufficient". A call takes its token before its concurrency slot, so waiting calls hold no slot.
    """

    def __init__(self, qps: float, concurrency: int) -> None:
        self.qps = qps
        self._slots = asyncio.Semaphore(concurrency)
        self._tokens = max(qps, 1.0)
        self._stamp = time.monotonic()
        self._first_waiting = 0
        """Calls of the first lane waiting for a token: best-effort calls wait while there are any."""

    def lane(self, best_effort: bool) -> _Lane:
        return _Lane(self, best_effort)

    async def __aenter__(self) -> None:
        await self.acquire(best_effort=False)

    async def __aexit__(self, *_: object) -> None:
        self._slots.release()

    async def acquire(self, best_effort: bool) -> None:
        if self.qps > 0:
            await self._token(best_effort)
        await self._slots.acquire()

    def release(self) -> None:
        self._slots.release()

    async def _token(self, best_effort: bool) -> None:
        if not best_effort:
            self._first_waiting += 1
        try:
            while True:
                now = time.monotonic()
                self._tokens = min(self.qps, self._tokens + (now - self._stamp) * self.qps)
                self._stamp = now
                if best_effort and self._first_waiting:
                    await asyncio.sleep(1 / self.qps)  # the first lane goes first
                    continue
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.qps)
        finally:
            if not best_effort:
                self._first_waiting -= 1


class _Lane:
    """``async with throttle.lane(best_effort)``."""

    def __init__(self, throttle: Throttle, best_effort: bool) -> None:
        self._throttle, self._best_effort = throttle, best_effort

    async def __aenter__(self) -> None:
        await self._throttle.acquire(self._best_effort)

    async def __aexit__(self, *_: object) -> None:
        self._throttle.release()


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SchedulerApi:
    """Bind, explain, evict: what the scheduler writes, and nothing else."""

    def __init__(self, kube: Kube, throttle: Throttle, identity: str) -> None:
        self.kube, self.throttle, self.identity = kube, throttle, identity
        self.binds = 0
        self._kill_after = kill_after_binds()

    def _pod(self, ns: str, name: str, sub: str = "") -> str:
        return f"/api/v1/namespaces/{ns}/pods/{name}{sub}"

    async def bind(
        self, ns: str, name: str, uid: str, node: str, annotations: dict[str, str] | None = None
    ) -> None:
        """Bind the pod to ``node``; the API server copies ``annotations`` onto the pod in the same write."""
        meta: Obj = {"name": name, "uid": uid} if uid else {"name": name}
        if annotations:
            meta["annotations"] = annotations
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": meta,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        async with self.throttle:
            await self.kube.create(self._pod(ns, name, "/binding"), body)
        self.binds += 1
        if self.binds == self._kill_after:
            log.warning(
                "fault injection: SIGKILL after binding %d pods (%s)", self.binds, KILL_AFTER_BINDS_ENV
            )
            os.kill(os.getpid(), signal.SIGKILL)

    async def delete(self, ns: str, name: str, uid: str, *, urgent: bool = False) -> None:
        """Delete a pod (an already-bound member of a gang whose binding failed), only this incarnation.

        ``urgent``: a gang's undo, sent at once rather than behind the throttle's best-effort traffic."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}} if uid else None
        if urgent:
            await self.kube.delete(self._pod(ns, name), body)
            return
        async with self.throttle:
            await self.kube.delete(self._pod(ns, name), body)

    async def condition(
        self, ns: str, name: str, condition: Obj, extra: Obj | None = None, *, best_effort: bool = False
    ) -> None:
        """Set one status condition (strategic merge keys conditions by type); ``best_effort``: an
        explanation, behind bindings in the throttle."""
        status = {"conditions": [{"lastTransitionTime": now_iso(), **condition}], **(extra or {})}
        async with self.throttle.lane(best_effort):
            await self.kube.patch(self._pod(ns, name, "/status"), {"status": status}, STRATEGIC_MERGE_PATCH)

    async def nominate(self, ns: str, name: str, node: str) -> None:
        async with self.throttle.lane(best_effort=True):
            await self.kube.patch(
                self._pod(ns, name, "/status"), {"status": {"nominatedNodeName": node}}, STRATEGIC_MERGE_PATCH
            )

    async def may_evict(self, ns: str, name: str) -> None:
        """Ask the Eviction API in dry-run: it refuses (429) when a PodDisruptionBudget forbids the eviction.

        Dry-run because a real eviction sets ``DisruptionTarget`` with its own reason
        (``EvictionByEvictionAPI``), replacing ``PreemptionByScheduler``, which the operator reads to mark
        the victim's job Preempted; the victim is then deleted, as kube-scheduler deletes its victims.
        """
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}
        async with self.throttle:
            await self.kube.request("POST", self._pod(ns, name, "/eviction"), body, params={"dryRun": "All"})

    async def event(self, ns: str, name: str, uid: str, kind: str, reason: str, message: str) -> None:
        """A core/v1 Event on the pod (what ``kubectl describe pod`` shows)."""
        stamp = now_iso()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{name}.", "namespace": ns},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": name, "uid": uid},
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": SCHEDULER_NAME},
            "reportingComponent": SCHEDULER_NAME,
            "reportingInstance": self.identity,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        async with self.throttle.lane(best_effort=True):
            await self.kube.create(f"/api/v1/namespaces/{ns}/events", body)
