"""Keep DevicePool and Queue status true: recomputed when something they depend on changes, not polled.

The store pokes the writer when a node's labels, allocatable or inventory, a bound pod, a pool, a queue or
a job change; one task recomputes every status (after a short pause, so a burst of events costs one pass)
and patches only those that changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from motherboard.api.base import parse_quantity
from motherboard.api.constants import GROUP, VERSION
from motherboard.api.v1alpha1 import DevicePoolSpec
from motherboard.kube.client import MERGE_PATCH, ApiError, Kube, path_for
from motherboard.operator import metrics
from motherboard.operator.aggregate import NodeView, PodUsage, pool_occupancy, pool_status, queue_statuses
from motherboard.operator.store import Store

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 1.0


class StatusWriter:
    def __init__(self, kube: Kube, store: Store) -> None:
        self._kube, self._store = kube, store
        self._dirty = asyncio.Event()
        self._written: dict[tuple[str, str], dict[str, Any]] = {}

    def poke(self) -> None:
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
        store = self._store
        # Read the store before the first await: the reflectors update it on this loop between our awaits.
        nodes = list(store.nodes.values())
        pods = list(store.usage.values())
        pools = list(store.pools.items())
        queues = dict(store.queues)
        phases = [
            ((job.get("spec") or {}).get("queue"), (job.get("status") or {}).get("phase", "Pending"))
            for job in store.jobs.values()
        ]
        _count_jobs(phases)
        pool_statuses = {name: pool_status(spec, nodes, pods).to_wire() for name, spec in pools}
        _pool_gauges(pools, nodes, pods, pool_statuses)
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


def _pool_gauges(
    pools: list[tuple[str, DevicePoolSpec]],
    nodes: list[NodeView],
    pods: list[PodUsage],
    statuses: dict[str, dict[str, Any]],
) -> None:
    """Allocated and free units, and fragmentation, per pool: cleared first, so a deleted pool's series go."""
    gauges = (
        metrics.POOL_CAPACITY,
        metrics.POOL_ALLOCATED,
        metrics.POOL_FREE_DEVICES,
        metrics.POOL_IDLE_DEVICES,
        metrics.POOL_LARGEST_IDLE,
        metrics.POOL_FRAGMENTATION,
    )
    for gauge in gauges:
        gauge.clear()
    for name, spec in pools:
        status = statuses[name]
        for resource, value in (status.get("capacity") or {}).items():
            metrics.POOL_CAPACITY.labels(name, resource).set(float(parse_quantity(value)))
        for resource, value in (status.get("allocated") or {}).items():
            metrics.POOL_ALLOCATED.labels(name, resource).set(float(parse_quantity(value)))
        occupancy = pool_occupancy(spec, nodes, pods)
        metrics.POOL_FREE_DEVICES.labels(name).set(occupancy.free_milli / 1000)
        metrics.POOL_IDLE_DEVICES.labels(name).set(occupancy.idle)
        metrics.POOL_LARGEST_IDLE.labels(name).set(occupancy.largest_idle)
        metrics.POOL_FRAGMENTATION.labels(name).set(occupancy.fragmentation)
