"""The time-driven job replay: a job trace through the real scheduling cycle, on a virtual clock.

This is the simulator's adapter to :class:`~motherboard.scheduler.cycle.Cycle`, beside the live one
(:mod:`motherboard.scheduler.service`). The cycle, the queues, the quota tree, the cache and the placer
are the ones the live scheduler runs; the adapter supplies what watches supply there:

* a trace-backed pod index (:class:`TracePods`, the cycle's ``Gangs`` port): the pending pods of each
  job, the pods an admitted job holds, and which pods still exist;
* a virtual clock (:class:`VirtualClock`) for the queue manager and every ``Cycle.run(now=…)``;
* the outcome of the cycle's actions, at once: a ``Bind`` binds every pod of the gang (the job starts
  when the whole gang is bound and ends ``duration`` seconds later), an ``Evict`` ends its victims
  (they restart from scratch, or from where they were when their job checkpoints).

Events are arrivals, completions and, for 2D-LAS, the instants a running job drops a level. After each
instant's events the cycle runs until it makes no more progress. Between events nothing changes, so
a workload that could not run waits for the next event that frees capacity (the queues'
``notify_capacity_freed``, as the live adapter calls on a pod's end) rather than for a timed retry.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from motherboard.scheduler.admission import Admitted, QueueSpec, QuotaTree, Resources, Workload
from motherboard.scheduler.cache import ClusterCache, NodeSpec, Placement, PodRequest, Transaction
from motherboard.scheduler.cache.state import ClusterState
from motherboard.scheduler.cache.types import DeviceKind, DeviceRequest
from motherboard.scheduler.cycle import NO_QUEUE, Bind, Cycle, Evict, Pending
from motherboard.scheduler.placement import Code, GangOutcome, Placer, PluginContext, Status, shipped_profile
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.queueing import Backoff, QueueManager
from motherboard.scheduler.simulate.jobpolicies import (
    GPU,
    LEVELS_PER_PRIORITY,
    JobPolicy,
    Priority,
    Queues,
    configure,
    las_level,
    next_las_threshold,
    queue_of,
    srtf_priority,
    tenant_queues,
)
from motherboard.scheduler.simulate.jobs import JobSpec

WAIT_FOR_EVENT = Backoff(base=math.inf, factor=1.0, cap=math.inf)
"""A workload that cannot run is retried when capacity frees (an event), never on a timer."""
MAX_ROUNDS = 10_000
"""Cycles at one instant before the replay gives up on it (a livelock guard; never reached in tests)."""

_COMPLETE, _LEVEL, _ARRIVE = 0, 1, 2
"""Event kinds, in the order they are handled at one instant: completions free devices first."""


class GatedPlacer(Placer):
    """The real placer behind a necessary condition: a gang of whole-device pods that cannot fit even by
    count (free whole devices, CPU and memory, node by node) fails at once instead of pod by pod.

    The condition only rejects gangs the placer would reject (models, topology and the rest only restrict
    further), so every decision is the placer's; it only spares the replay the futile attempts that a
    completion's retry of every waiting gang would otherwise make. Only the message differs.
    """

    skipped = 0

    def place_gang(self, pods: Sequence[PodRequest], txn: Transaction) -> GangOutcome:
        if pods and not may_fit(pods, txn.view().state):
            self.skipped += 1
            message = f"pod {pods[0].name}: fewer than {len(pods)} nodes' worth of free devices for the gang"
            return GangOutcome(Status(Code.UNSCHEDULABLE, (message,), "gang"))
        return super().place_gang(pods, txn)


def may_fit(pods: Sequence[PodRequest], state: ClusterState) -> bool:
    """Whether the free whole devices, CPU and memory could hold the gang at all (a necessary condition).

    Gangs of identical whole-device pods only; anything else (shares, partitions, mixed pods) says yes.
    """
    first = pods[0]
    devices = first.devices
    if (
        devices is None
        or devices.kind is not DeviceKind.WHOLE
        or any(p.task_class() != first.task_class() for p in pods)
    ):
        return True
    whole = ((state.dev_milli_free == 1000) & ~state.dev_mig).sum(axis=1) // devices.count
    room = np.minimum(whole, state.pods_free)
    if first.cpu_milli:
        room = np.minimum(room, state.cpu_free // first.cpu_milli)
    if first.memory_mib:
        room = np.minimum(room, state.mem_free // first.memory_mib)
    return int(room[state.schedulable].sum()) >= len(pods)


class VirtualClock:
    """The replay's time, in seconds; the queue manager reads it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class TracePods:
    """The cycle's ``Gangs`` port, backed by the trace: what watches tell the live adapter."""

    pending: dict[str, tuple[PodRequest, ...]] = field(default_factory=dict)
    """Workload key → its pending pods (a job waiting to start, whole)."""
    holding: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Admitted workload key → the pods it holds (bound)."""
    alive: set[str] = field(default_factory=set)

    def members(self, key: str) -> Sequence[PodRequest]:
        return self.pending.get(key, ())

    def pods_of(self, key: str) -> Sequence[str]:
        return self.holding.get(key, ())

    def any_alive(self, pods: Sequence[str]) -> bool:
        return any(p in self.alive for p in pods)


@dataclass
class JobRun:
    """One job's life in the replay."""

    spec: JobSpec
    index: int
    """Its place in the trace (events name jobs by it)."""
    attempt: int = 0
    started: float | None = None
    """When its current run began (``None`` while it waits)."""
    first_start: float | None = None
    finished: float | None = None
    kept: float = 0.0
    """Seconds of progress it keeps across a preemption (checkpointed jobs only)."""
    attained: float = 0.0
    """GPU-seconds it has run, all attempts together (2D-LAS's attained service)."""
    preempted: int = 0
    rejected: str | None = None
    """Why it can never run (its queue can never hold it), if so."""

    @property
    def key(self) -> str:
        return f"{self.spec.tenant}/{self.spec.name}@{self.attempt}"

    def remaining(self, now: float) -> float:
        """Seconds of work left at ``now``."""
        ran = 0.0 if self.started is None else now - self.started
        return max(self.spec.duration - self.kept - ran, 0.0)

    def attained_at(self, now: float) -> float:
        ran = 0.0 if self.started is None else now - self.started
        return self.attained + self.spec.gpus * ran


@dataclass
class Sample:
    """The cluster at one instant (after the instant's cycles)."""

    time: float
    used_gpus: float
    tenant_gpus: dict[str, float]
    pending: dict[str, float]
    """Per tenant with pending jobs: the GPUs of its smallest pending job."""


@dataclass
class ReplayStats:
    """What the replay measured about itself: its cost and the invariants it checked."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    """This process's CPU time for the replay (the figure to compare on a shared machine)."""
    cycles: int = 0
    decisions: int = 0
    """Workloads the cycles decided for (admitted and placed, preempted for, or told to wait)."""
    cycle_s: float = 0.0
    by_queue_length: dict[int, list[float]] = field(default_factory=dict)
    """Pending-queue length bucket (powers of two) → [cycle seconds, decisions] summed."""
    partial_gangs: int = 0


class JobReplay:
    """One policy's replay of a job trace on a set of nodes."""

    def __init__(
        self,
        jobs: Sequence[JobSpec],
        nodes: Sequence[NodeSpec],
        policy: JobPolicy,
        tenant_specs: Sequence[QueueSpec] | None = None,
        *,
        on_step: Callable[[JobReplay], None] | None = None,
        placer_workload: Sequence[PodRequest] | None = None,
        gate: bool = True,
    ) -> None:
        """``placer_workload``: the pods the placement plugins weigh (the live scheduler's recent workload);
        by default the first 2,000 jobs' pods. ``gate``: put :class:`GatedPlacer`'s count check in front of
        the placer (the same decisions, fewer futile attempts)."""
        self.jobs = [JobRun(j, i) for i, j in enumerate(jobs)]
        self.policy = policy
        self.clock = VirtualClock(min((j.submit_time for j in jobs), default=0.0))
        self.cache = ClusterCache(nodes)
        self.capacity_gpus = sum(len(n.inventory.devices) for n in nodes)
        capacity_milli = self.capacity_gpus * 1000
        tenants = sorted({j.tenant for j in jobs})
        if tenant_specs is None:
            tenant_specs = tenant_queues(tenants, capacity_milli)
        self.tenant_specs = list(tenant_specs)
        self.specs = configure(policy, self.tenant_specs, capacity_milli)
        if policy.queues is Queues.TENANTS:
            names = {s.name for s in self.specs}
            missing = sorted(t for t in tenants if t not in names)
            if missing:
                raise ValueError(
                    f"--queues: no Queue for tenant(s) {', '.join(missing)}; add a Queue named after each "
                    "tenant of the job trace (or omit --queues for one equal-share queue per tenant)"
                )
        self.entitlement = _entitlements(self.tenant_specs, tenants, self.capacity_gpus)
        self.queues = QueueManager(backoff=WAIT_FOR_EVENT, clock=self.clock)
        for spec in self.specs:
            self.queues.set_queue(spec.name, spec.strategy)
        if policy.queues is Queues.UNQUOTED:
            self.queues.set_queue(NO_QUEUE, policy.strategy)
        self.pods = TracePods()
        if placer_workload is None:
            placer_workload = [self._pods(run)[0] for run in self.jobs[:2000]]
        registry = default_registry({n.name: n for n in nodes})
        kind = GatedPlacer if gate else Placer
        placer = kind(shipped_profile(), registry, PluginContext(workload=tuple(placer_workload)))
        self.cycle = Cycle(self.queues, QuotaTree(self.specs), self.cache, placer, self.pods)
        self._by_key: dict[str, JobRun] = {}
        self._running: dict[str, JobRun] = {}
        self._events: list[tuple[float, int, int, int, int]] = []
        self._seq = 0
        self._used = 0.0
        self._tenant_used: dict[str, float] = {}
        self._tenant_pending: dict[str, Counter[float]] = {}
        """Tenant → GPUs of each of its pending jobs (a multiset)."""
        self.samples: list[Sample] = []
        self.stats = ReplayStats()
        self.preemptions = 0
        self.on_step = on_step
        self.bound: list[tuple[float, str, tuple[Placement, ...]]] = []
        """Every gang bound, in order: (time, workload key, placements) — what the adapter was told to bind."""
        self.evictions: list[tuple[float, str, tuple[str, ...]]] = []
        """Every preemption, in order: (time, preemptor key, victim keys)."""
        self.log: list[tuple[float, list[str], list[str]]] = []
        """The events of each instant with any: (time, jobs that arrived, workload keys that completed)."""
        for i, run in enumerate(self.jobs):
            self._push_event(run.spec.submit_time, _ARRIVE, i, 0)

    # --- the loop ------------------------------------------------------------------------------------------
    def run(self, progress: Callable[[int, int], None] | None = None) -> JobReplay:
        """Replay every event; ``progress(done, total)`` is called as jobs finish."""
        started, cpu = time.perf_counter(), time.process_time()
        done = 0
        while self._events:
            now = self._events[0][0]
            self.clock.now = now
            arrived: list[str] = []
            completed: list[str] = []
            while self._events and self._events[0][0] == now:
                _, kind, _, index, attempt = heapq.heappop(self._events)
                run = self.jobs[index]
                if kind == _ARRIVE:
                    arrived.append(run.spec.name)
                    self._arrive(run)
                elif run.attempt == attempt and run.started is not None:  # not a stale event
                    if kind == _COMPLETE:
                        completed.append(run.key)
                        self._complete(run, now)
                        done += 1
                        if progress is not None:
                            progress(done, len(self.jobs))
                    else:
                        self.queues.notify_capacity_freed()  # it dropped a level: those above may preempt
            if arrived or completed:
                self.log.append((now, arrived, completed))
            self._schedule(now)
            self._sample(now)
            if self.on_step is not None:
                self.on_step(self)
        self.stats.wall_s = time.perf_counter() - started
        self.stats.cpu_s = time.process_time() - cpu
        return self

    def _schedule(self, now: float) -> None:
        if self.policy.dynamic:
            self._reprioritise(now)
        for _ in range(MAX_ROUNDS):
            pending = self.queues.pending()
            t = time.perf_counter()
            result = self.cycle.run(now=now, limit=1 << 30)
            spent = time.perf_counter() - t
            progressed = False
            for action in result.actions:
                if isinstance(action, Bind):
                    self._bind(action, now)
                    progressed = True
                elif isinstance(action, Evict):
                    self._evict(action, now)
                    progressed = True
                elif isinstance(action, Pending) and action.never:
                    self._reject(action)
            self.stats.cycles += 1
            self.stats.decisions += len(result.actions)
            self.stats.cycle_s += spent
            bucket = self.stats.by_queue_length.setdefault(1 << max(0, pending).bit_length(), [0.0, 0.0])
            bucket[0] += spent
            bucket[1] += len(result.actions)
            if not progressed:
                return
        raise RuntimeError(f"the replay made progress {MAX_ROUNDS} times at t={now}: a livelock")

    # --- events ----------------------------------------------------------------------------------------------
    def _arrive(self, run: JobRun) -> None:
        self._pend(run, self.clock.now)

    def _pend(self, run: JobRun, now: float) -> None:
        pods = self._pods(run)
        self._by_key[run.key] = run
        self.pods.pending[run.key] = pods
        self._tenant_pending.setdefault(run.spec.tenant, Counter())[run.spec.gpus] += 1
        self.queues.push(self._workload(run, now))

    def _workload(self, run: JobRun, now: float) -> Workload:
        spec = run.spec
        return Workload(
            key=run.key,
            queue=queue_of(self.policy, spec.tenant),
            request=Resources({GPU: spec.replicas * spec.gpus_per_replica * spec.gpu_milli}),
            priority=self._priority(run, now),
            created=spec.submit_time,
            pods=spec.replicas,
        )

    def _priority(self, run: JobRun, now: float) -> int:
        kind = self.policy.priority
        if kind is Priority.TRACE:
            return run.spec.priority
        if kind is Priority.LAS:
            return -las_level(run.attained_at(now))
        if kind is Priority.TRACE_LAS:
            return run.spec.priority * LEVELS_PER_PRIORITY - las_level(run.attained_at(now))
        if kind is Priority.SRTF:
            return srtf_priority(run.remaining(now) * run.spec.gpus)
        return 0

    def _pods(self, run: JobRun) -> tuple[PodRequest, ...]:
        spec = run.spec
        if spec.gpu_milli < 1000:
            devices = DeviceRequest(kind=DeviceKind.FRACTION, count=1, milli=spec.gpu_milli)
        else:
            devices = DeviceRequest(count=spec.gpus_per_replica)
        if spec.gpu_model:
            devices = replace(devices, models=(spec.gpu_model,))
        return tuple(
            PodRequest(
                name=pod_name(run.key, i),
                cpu_milli=spec.cpu_milli,
                memory_mib=spec.memory_mib,
                devices=devices,
                group=run.key,
                priority=spec.priority,
                queue=spec.tenant,
            )
            for i in range(spec.replicas)
        )

    def _bind(self, action: Bind, now: float) -> None:
        run = self._by_key[action.workload.key]
        names = tuple(p.pod.name for p in action.placements)
        if len(names) != run.spec.replicas:
            self.stats.partial_gangs += 1  # never expected: the cycle binds gangs whole
        for name in names:
            self.cache.confirm(name)
        del self.pods.pending[run.key]
        self.pods.holding[run.key] = names
        self.pods.alive.update(names)
        self.bound.append((now, run.key, action.placements))
        self._unpend_tenant(run)
        run.started = now
        if run.first_start is None:
            run.first_start = now
        self._running[run.key] = run
        self._use(run, +1)
        self._push_event(now + run.remaining(now), _COMPLETE, run.index, run.attempt)
        if self.policy.priority in (Priority.LAS, Priority.TRACE_LAS):
            self._schedule_level(run, now)

    def _schedule_level(self, run: JobRun, now: float) -> None:
        threshold = next_las_threshold(run.attained_at(now))
        if threshold is not None and run.spec.gpus > 0:
            at = now + (threshold - run.attained_at(now)) / run.spec.gpus
            if at < now + run.remaining(now):
                self._push_event(at, _LEVEL, run.index, run.attempt)

    def _complete(self, run: JobRun, now: float) -> None:
        run.attained = run.attained_at(now)
        run.finished = now
        self._release(run)
        self.cycle.tree.forget(run.key)
        self.queues.notify_capacity_freed()

    def _release(self, run: JobRun) -> None:
        """The job's pods end: their devices and the job's charge go back."""
        for name in self.pods.holding.pop(run.key, ()):
            self.pods.alive.discard(name)
            if self.cache.placement(name) is not None:
                self.cache.forget(name)
        self._running.pop(run.key, None)
        self._use(run, -1)
        run.started = None

    def _evict(self, action: Evict, now: float) -> None:
        """The victims end now (the cycle already took them out of the cache and the tree) and queue again."""
        self.evictions.append((now, action.preemptor.key, tuple(v.workload.key for v in action.victims)))
        for victim in action.victims:
            run = self._by_key[victim.workload.key]
            ran = 0.0 if run.started is None else now - run.started
            run.attained = run.attained_at(now)
            if run.spec.checkpoint:
                run.kept += ran
            run.preempted += 1
            self.preemptions += 1
            self._release(run)
            self.cycle.tree.forget(run.key)  # already forgotten by the cycle; harmless
            run.attempt += 1
            self._pend(run, now)
        self.queues.notify_capacity_freed()

    def _reject(self, action: Pending) -> None:
        run = self._by_key[action.workload.key]
        run.rejected = action.message
        self.queues.delete(run.key)
        self.pods.pending.pop(run.key, None)
        self._unpend_tenant(run)

    def _reprioritise(self, now: float) -> None:
        """Running jobs' priorities move with their attained service (LAS) or remaining work (SRTF)."""
        tree = self.cycle.tree
        changed = False
        for run in self._running.values():
            admitted = tree.forget(run.key)
            if admitted is None:
                continue
            priority = self._priority(run, now)
            if priority != admitted.workload.priority:
                changed = True
            tree.restore(Admitted(replace(admitted.workload, priority=priority), admitted.since))
        if changed:
            self.queues.notify_capacity_freed()

    # --- accounting ---------------------------------------------------------------------------------------
    def _use(self, run: JobRun, sign: int) -> None:
        self._used += sign * run.spec.gpus
        self._tenant_used[run.spec.tenant] = (
            self._tenant_used.get(run.spec.tenant, 0.0) + sign * run.spec.gpus
        )

    def _unpend_tenant(self, run: JobRun) -> None:
        sizes = self._tenant_pending[run.spec.tenant]
        sizes[run.spec.gpus] -= 1
        if not sizes[run.spec.gpus]:
            del sizes[run.spec.gpus]

    def _sample(self, now: float) -> None:
        tenants = {t: round(g, 6) for t, g in self._tenant_used.items() if g > 1e-9}
        pending = {t: min(sizes) for t, sizes in self._tenant_pending.items() if sizes}
        last = self.samples[-1] if self.samples else None
        if last is not None and last.tenant_gpus == tenants and last.pending == pending:
            return
        if last is not None and last.time == now:
            self.samples[-1] = Sample(now, round(self._used, 6), tenants, pending)
        else:
            self.samples.append(Sample(now, round(self._used, 6), tenants, pending))

    def _push_event(self, at: float, kind: int, index: int, attempt: int) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, kind, self._seq, index, attempt))

    # --- what tests and results read -------------------------------------------------------------------------
    @property
    def running(self) -> dict[str, JobRun]:
        return self._running


def pod_name(key: str, index: int) -> str:
    """The name of a job's ``index``-th pod (its members sort in index order, as the live index sorts them)."""
    return f"{key}-{index:03d}"


def _entitlements(specs: Sequence[QueueSpec], tenants: list[str], capacity: int) -> dict[str, float]:
    """Each tenant queue's nominal GPU quota, in GPUs (its entitlement)."""
    by_name = {s.name: s for s in specs}
    out = {}
    for tenant in tenants:
        spec = by_name.get(tenant)
        nominal = spec.quota(GPU).nominal if spec is not None else capacity * 1000 // max(1, len(tenants))
        out[tenant] = nominal / 1000
    return out
