"""Keep DevicePool and Queue status true: recomputed when something they depend on changes, not polled.

Any event on nodes, pods, pools, queues or AIJobs marks the statuses dirty; one task recomputes them all
(after a short pause, so a burst of events costs one pass) and patches only those that changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from motherboard.api.constants import GROUP, VERSION
from motherboard.api.v1alpha1 import DevicePoolSpec, Queue
from motherboard.kube.client import MERGE_PATCH, ApiError, Kube, path_for
from motherboard.operator import indices as _indices  # noqa: F401  (registers the indices read here)
from motherboard.operator import metrics
from motherboard.operator.aggregate import NodeView, pool_status, queue_statuses
from motherboard.operator.handlers import registry, state

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 1.0


class StatusWriter:
    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        self._dirty = asyncio.Event()
        self._written: dict[tuple[str, str], dict[str, Any]] = {}
        self._views: dict[str, Any] = {}

    def poke(self, views: Mapping[str, Any]) -> None:
        self._views.update({k: v for k, v in views.items() if k.endswith("_index") or k.endswith("_by_name")})
        self._views.update({k: v for k, v in views.items() if k == "jobs_by_key"})
        self._dirty.set()

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(DEBOUNCE_SECONDS)
            self._dirty.clear()
            try:
                await self._write_all()
            except (ApiError, OSError) as exc:
                log.warning("status update failed (%s); retrying on the next change", exc)
                self._dirty.set()

    async def _write_all(self) -> None:
        views = self._views
        if not {"nodes_index", "bound_pods_index", "pools_by_name", "queues_index"} <= views.keys():
            return
        # Read every index before the first await: kopf updates them on this loop between our awaits.
        nodes = [v for store in views["nodes_index"].values() for v in store]
        pods = [p for store in views["bound_pods_index"].values() for p in store]
        pools = [(name, raw) for name, store in views["pools_by_name"].items() for raw in store]
        raw_queues = [(name, raw) for name, store in views["queues_index"].items() for raw in store]
        phases = [
            ((job.get("spec") or {}).get("queue"), (job.get("status") or {}).get("phase", "Pending"))
            for store in (views.get("jobs_by_key") or {}).values()
            for job in store
        ]
        _count_jobs(phases)
        pool_statuses: dict[str, dict[str, Any]] = {}
        for name, raw in pools:
            try:
                spec = DevicePoolSpec.model_validate(raw)
            except ValidationError:
                continue
            pool_statuses[name] = pool_status(spec, nodes, pods).to_wire()
        queues: dict[str, Queue] = {}
        for name, raw in raw_queues:
            try:
                queues[name] = Queue.model_validate({k: v for k, v in raw.items() if k != "status"})
            except ValidationError:
                continue
        for name, status in pool_statuses.items():
            await self._patch("devicepools", name, status)
        for name, queue_status in queue_statuses(queues, phases, pods).items():
            await self._patch("queues", name, queue_status.to_wire())

    async def _patch(self, plural: str, name: str, status: dict[str, Any]) -> None:
        if self._written.get((plural, name)) == status:
            return
        try:
            await self._kube.patch(
                path_for(GROUP, VERSION, plural, None, name) + "/status", {"status": status}, MERGE_PATCH
            )
        except ApiError as exc:
            if exc.not_found:
                return  # deleted meanwhile
            raise
        self._written[(plural, name)] = status


def _count_jobs(phases: list[tuple[str | None, str]]) -> None:
    # Once per debounced pass, not per event: counting all jobs on every event is quadratic in a burst.
    counts = Counter((phase, queue or "") for queue, phase in phases)
    metrics.JOBS.clear()
    for (phase, queue), count in counts.items():
        metrics.JOBS.labels(phase=phase, queue=queue).set(count)


def _poke(kwargs: Mapping[str, Any]) -> None:
    writer: StatusWriter | None = state.get("status_writer")
    if writer is None:
        if "kube" not in state:
            return  # not started yet; the first event after start-up creates the writer
        writer = state["status_writer"] = StatusWriter(state["kube"])
        state["status_task"] = asyncio.get_running_loop().create_task(writer.run())
    writer.poke(kwargs)


@kopf.on.cleanup(registry=registry)
async def _stop_status_writer(**_: Any) -> None:
    task = state.get("status_task")
    if task is not None:
        task.cancel()


@kopf.on.event(GROUP, VERSION, "aijobs", registry=registry)
async def _job_changed(**kwargs: Any) -> None:
    _poke(kwargs)


_seen_nodes: dict[str, NodeView] = {}


@kopf.on.event("nodes", registry=registry)
async def _node_changed(*, name: str, body: kopf.Body, type: str | None, **kwargs: Any) -> None:
    # Nodes send heartbeats every few seconds; only a change of what pool status reads (labels,
    # allocatable, the device inventory) is worth a status pass.
    view = NodeView.from_node(body)
    if type != "DELETED" and _seen_nodes.get(name) == view:
        return
    if type == "DELETED":
        _seen_nodes.pop(name, None)
    else:
        _seen_nodes[name] = view
    _poke(kwargs)


@kopf.on.event("pods", registry=registry)
async def _pod_changed(**kwargs: Any) -> None:
    _poke(kwargs)


@kopf.on.event(GROUP, VERSION, "devicepools", registry=registry)
async def _pool_changed(**kwargs: Any) -> None:
    _poke(kwargs)


@kopf.on.event(GROUP, VERSION, "queues", registry=registry)
async def _queue_changed(**kwargs: Any) -> None:
    _poke(kwargs)
