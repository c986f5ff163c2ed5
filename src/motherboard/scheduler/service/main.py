"""The scheduler process: watches → world → cycle → binder, behind a leader lease.

The story of :func:`serve`:

1. list+watch nodes, Queues, DevicePools and pods into the :class:`World` (every replica does, so a
   standby is warm when it takes over);
2. once every watch has listed, report ready, and wait to lead (the Lease);
3. as the new leader, finish or undo gangs a previous leader left half bound (:mod:`.recovery`);
4. loop: run a cycle over the queue heads, hand its actions to the :class:`Binder`, and sleep only
   when nothing is ready — until SIGTERM, or until the lease is lost (then exit, as kube-scheduler does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import start_http_server

from motherboard.api.constants import GROUP, SCHEDULER_NAME, VERSION
from motherboard.kube import Kube, load_access
from motherboard.scheduler.cycle import NO_QUEUE
from motherboard.scheduler.placement import load_profile, shipped_profile
from motherboard.scheduler.service import metrics
from motherboard.scheduler.service.api import SchedulerApi, Throttle
from motherboard.scheduler.service.binder import Binder
from motherboard.scheduler.service.health import Health
from motherboard.scheduler.service.leader import LeaderElector
from motherboard.scheduler.service.recovery import recover
from motherboard.scheduler.service.reflector import Reflector
from motherboard.scheduler.service.world import World

log = logging.getLogger(__name__)
IDLE_POLL = 0.01
GAUGE_PERIOD = 1.0


@dataclass(frozen=True)
class Options:
    kubeconfig: Path | None = None
    profile: Path | None = None
    metrics_port: int = 10260
    health_port: int = 10261
    leader_elect: bool = True
    lease_namespace: str = "kube-system"
    lease_name: str = SCHEDULER_NAME
    lease_duration: float = 6.0
    """Seconds a leader's Lease lasts unrenewed: a SIGKILLed leader's successor takes over after it expires
    (renewed every 1/7 of it, lost after 2/3). 15 s cost a failover 17 s; 6 s keeps it under 10 s."""
    qps: float = 0.0
    """Client requests per second for writes (0: unlimited); watches are not counted."""
    concurrency: int = 64
    """API calls in flight at most (binding, patches, events)."""
    batch: int = 256
    """Workloads per cycle at most, so watch events and binding results are handled in between."""
    ahead: int = 0
    """Pods assumed but not yet bound at most before the next cycle waits (0: twice ``concurrency``).
    Scheduling far ahead of the API server only blocks the event loop that reads its answers."""
    identity: str = f"{socket.gethostname()}_{os.getpid()}"


async def serve(opts: Options) -> int:
    """Run until SIGTERM (returns 0) or until leadership is lost (returns 1)."""
    profile = load_profile(opts.profile) if opts.profile else shipped_profile()
    kube = Kube(load_access(opts.kubeconfig), connections=opts.concurrency + 8)
    world = World(profile)
    binder = Binder(world, SchedulerApi(kube, Throttle(opts.qps, opts.concurrency), opts.identity))
    health = Health()
    if opts.health_port:
        await health.start(opts.health_port)
    if opts.metrics_port:
        start_http_server(opts.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # 1. Watches.
    reflectors = [
        Reflector(kube, "/api/v1/nodes", world.on_node),
        Reflector(kube, f"/apis/{GROUP}/{VERSION}/queues", world.on_queue, optional=True),
        Reflector(kube, f"/apis/{GROUP}/{VERSION}/devicepools", world.on_pool, optional=True),
        Reflector(kube, "/api/v1/pods", world.on_pod),
    ]
    health.watches = reflectors
    watches = [asyncio.create_task(r.run(), name=f"watch {r.path}") for r in reflectors]
    elector = LeaderElector.for_lease(
        kube, opts.lease_namespace, opts.lease_name, opts.identity, opts.lease_duration
    )
    keep: asyncio.Task[None] | None = None
    try:
        # 2. Ready once synced; then wait to lead.
        if not await _until(stop, asyncio.gather(*(r.synced.wait() for r in reflectors))):
            return 0
        health.ready = True
        log.info("synced: %d nodes, %d pods", len(world.nodes), len(world.pods))
        if opts.leader_elect:
            if not await _until(stop, elector.acquire(), health):
                return 0
            keep = asyncio.create_task(elector.keep())
        health.leading = True
        metrics.LEADER.set(1)
        # 3. Finish or undo what a previous leader left half done.
        binds, undo = recover(world)
        binder.dispatch(binds, time.monotonic())
        binder.undo(undo, "its gang was left half bound and cannot complete")
        # 4. Schedule.
        ahead = opts.ahead or 2 * opts.concurrency
        return await _schedule(world, binder, health, stop, keep, opts.batch, ahead, watches)
    finally:
        for task in [*watches, *([keep] if keep else [])]:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(binder.drain(), timeout=10)
        await elector.release()
        await health.stop()
        await kube.close()


async def _schedule(
    world: World,
    binder: Binder,
    health: Health,
    stop: asyncio.Event,
    keep: asyncio.Task[None] | None,
    batch: int,
    ahead: int,
    watches: list[asyncio.Task[None]],
) -> int:
    gauges = 0.0
    # Back-pressure with some slack: once ``ahead`` pods wait for their binding, the next cycle waits
    # until ``room`` have answered, so it places a batch rather than one pod per cycle (a cycle's fixed
    # cost, about 0.4 ms, would then be paid per pod) while the calls queued behind the ones in flight
    # keep the API server busy.
    room = max(1, min(batch, ahead // 8))
    while not stop.is_set():
        health.tick()
        if keep is not None and keep.done():
            return 1  # lost the lease: another replica may be scheduling now
        if any(watch.done() for watch in watches):
            # A reflector only ends on a bug; scheduling on from a view that no longer updates would place
            # pods on stale nodes and miss new ones. Exit so the Deployment restarts the process.
            log.error("a watch stopped (%s); exiting", ", ".join(w.get_name() for w in watches if w.done()))
            return 1
        if binder.binding > ahead - room:  # let the bindings in flight answer first
            await asyncio.sleep(IDLE_POLL / 2)
            continue
        started = time.monotonic()
        world.changed = False
        result = world.cycle.run(limit=max(1, min(batch, ahead - binder.binding)))
        for point, seconds in result.seconds.items():
            metrics.EXTENSION_POINT.labels(point).observe(seconds)
        binder.dispatch(result.actions, started)
        if started - gauges > GAUGE_PERIOD:
            gauges = started
            binder.retry_undo()  # a gang's undo that the API server did not take: again, until it does
            pending: dict[str, int] = {}
            for pods in world.pending.values():
                for info in pods.values():
                    queue = world.tenancy.queue_for(info.queue, info.namespace)
                    pending[queue if queue != NO_QUEUE else ""] = pending.get(queue, 0) + 1
            metrics.observe_queues(world.cycle.tree, pending)
        if result.actions:
            await asyncio.sleep(0)  # let binding results and watch events in
            continue
        idle_until = time.monotonic() + 0.5  # parked workloads' backoff expires without any event
        while not world.changed and not stop.is_set() and time.monotonic() < idle_until:
            await asyncio.sleep(IDLE_POLL)
    return 0


async def _until(stop: asyncio.Event, work: Awaitable[object], health: Health | None = None) -> bool:
    """Await ``work`` unless ``stop`` is set first; ``False`` when stopped."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.create_task(stop.wait())
    while True:
        done, _ = await asyncio.wait({task, stopper}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        if health is not None:
            health.tick()  # a standby is alive while it waits
        if task in done:
            stopper.cancel()
            task.result()
            return True
        if stopper in done:
            task.cancel()
            return False


def run(opts: Options) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(opts))
