"""The queueing policies ``motherboard simulate --jobs`` compares, each a configuration of the one cycle.

Every policy runs the real :class:`~motherboard.scheduler.cycle.Cycle` (queues, quota tree, placement) and
the shipped placement profile; they differ only in the queues the jobs go to, the queues' strategy and
preemption rules, and the priority a job carries:

``production``
    Motherboard as it ships: one queue per tenant (nominal share of the cluster, borrowing from a common
    parent), BestEffortFIFO (backfill), the trace's priorities, DRF fair share across queues, preemption of
    lower priority within a queue and reclaim of lent quota from borrowers.
``fifo``
    Strict FIFO over the whole cluster: one queue, gangs, no priorities, no backfill, no preemption.
``best-effort-fifo``
    Kueue-like: the same tenant queues and quotas as ``production``, BestEffortFIFO, and Kueue's default
    preemption (none within a queue, no reclaim).
``2d-las``
    Tiresias' discretised two-dimensional least attained service: one preemptive queue; a job's priority
    is its level of attained GPU-seconds (GPUs × time run); levels at :data:`LAS_THRESHOLDS`; FIFO within
    a level; no knowledge of durations.
``srtf``
    Shortest remaining time first, an oracle that knows every job's duration: one preemptive queue whose
    priority is the job's remaining GPU-seconds. A yardstick, not a policy to ship.
``production-las`` (not in ``all``)
    A candidate: ``production``'s queues, quotas, fair share and reclaim, with 2D-LAS levels as the order
    *within* each priority of a tenant queue (a demoted job may be preempted by its own tenant's newer ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from motherboard.api.v1alpha1.queue import QueueingStrategy
from motherboard.scheduler.admission import (
    PreemptionPolicy,
    QueueSpec,
    ReclaimFromBorrowers,
    ResourceQuota,
    WithinQueue,
)
from motherboard.scheduler.cycle import NO_QUEUE

GPU = "nvidia.com/gpu"
ROOT = "cluster"
"""The parent of the tenant queues the simulator makes when no QUEUES.yaml is given."""
SINGLE = "all"
"""The one queue of the single-queue policies (2D-LAS, SRTF)."""

LAS_THRESHOLDS = (3600.0, 36000.0, 360000.0)
"""Attained service (GPU-seconds) at which a job drops one level: 1, 10 and 100 GPU-hours."""


class Priority(StrEnum):
    """Where a job's priority comes from."""

    TRACE = "trace"
    NONE = "none"
    LAS = "las"
    TRACE_LAS = "trace-las"
    """The trace's priority first, then the 2D-LAS level within it."""
    SRTF = "srtf"


class Queues(StrEnum):
    """Which queues the jobs go to."""

    TENANTS = "tenants"
    """One queue per tenant (QUEUES.yaml or equal shares)."""
    SINGLE = "single"
    """One preemptive queue holding the whole cluster."""
    UNQUOTED = "unquoted"
    """No quota: the cycle's unqueued path, strict FIFO."""


@dataclass(frozen=True, slots=True)
class JobPolicy:
    name: str
    queues: Queues
    priority: Priority
    strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    preemption: PreemptionPolicy | None = None
    """Override the queues' preemption rules (``None``: as configured)."""

    @property
    def dynamic(self) -> bool:
        """Whether a running job's priority changes as it runs."""
        return self.priority in (Priority.LAS, Priority.TRACE_LAS, Priority.SRTF)


_NO_PREEMPTION = PreemptionPolicy(WithinQueue.NEVER, ReclaimFromBorrowers.NEVER)
_PREEMPT_LOWER = PreemptionPolicy(WithinQueue.LOWER_PRIORITY, ReclaimFromBorrowers.NEVER)

POLICIES: dict[str, JobPolicy] = {
    "production": JobPolicy("production", Queues.TENANTS, Priority.TRACE),
    "fifo": JobPolicy("fifo", Queues.UNQUOTED, Priority.NONE, QueueingStrategy.STRICT_FIFO, _NO_PREEMPTION),
    "best-effort-fifo": JobPolicy("best-effort-fifo", Queues.TENANTS, Priority.TRACE, preemption=_NO_PREEMPTION),
    "2d-las": JobPolicy("2d-las", Queues.SINGLE, Priority.LAS, preemption=_PREEMPT_LOWER),
    "srtf": JobPolicy("srtf", Queues.SINGLE, Priority.SRTF, preemption=_PREEMPT_LOWER),
    "production-las": JobPolicy("production-las", Queues.TENANTS, Priority.TRACE_LAS),
}  # fmt: skip
ALL = ("production", "fifo", "best-effort-fifo", "2d-las", "srtf")
"""What ``--policy all`` runs: the issue's five."""


def parse_job_policies(text: str) -> list[JobPolicy]:
    """``all`` or a comma list of :data:`POLICIES` names (``2D-LAS`` and ``2d-las`` alike)."""
    if text.strip().lower() == "all":
        return [POLICIES[name] for name in ALL]
    out = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name not in POLICIES:
            raise ValueError(
                f"--policy: unknown job policy {raw.strip()!r}; choose from {', '.join(POLICIES)} or 'all'"
            )
        out.append(POLICIES[name])
    if not out:
        raise ValueError(f"--policy: no policy given; choose from {', '.join(POLICIES)} or 'all'")
    return out


def tenant_queues(tenants: list[str], capacity_milli: int) -> list[QueueSpec]:
    """One queue per tenant with an equal nominal share that may borrow the rest, under :data:`ROOT`."""
    share = capacity_milli // max(1, len(tenants))
    root = QueueSpec(ROOT, quotas={GPU: ResourceQuota(capacity_milli)})
    return [root, *(QueueSpec(t, parent=ROOT, quotas={GPU: ResourceQuota(share)}) for t in tenants)]


def configure(policy: JobPolicy, specs: list[QueueSpec], capacity_milli: int) -> list[QueueSpec]:
    """The queue specs ``policy`` runs with, from the tenant queues ``specs``."""
    from dataclasses import replace

    if policy.queues is Queues.UNQUOTED:
        return []
    if policy.queues is Queues.SINGLE:
        quota = {GPU: ResourceQuota(capacity_milli)}
        return [QueueSpec(SINGLE, quotas=quota, preemption=policy.preemption or PreemptionPolicy())]
    out = []
    for spec in specs:
        configured = replace(spec, strategy=policy.strategy)
        if policy.preemption is not None:
            configured = replace(configured, preemption=policy.preemption)
        out.append(configured)
    return out


def queue_of(policy: JobPolicy, tenant: str) -> str:
    if policy.queues is Queues.UNQUOTED:
        return NO_QUEUE
    if policy.queues is Queues.SINGLE:
        return SINGLE
    return tenant


LEVELS_PER_PRIORITY = 16
"""``production-las``: a job's priority is ``trace priority × 16 − level``, so levels never cross priorities."""


def las_level(attained_gpu_s: float) -> int:
    """The 2D-LAS level of a job with this much attained service (0: the highest priority)."""
    return sum(1 for threshold in LAS_THRESHOLDS if attained_gpu_s >= threshold)


def next_las_threshold(attained_gpu_s: float) -> float | None:
    """The attained service at which the job drops its next level (``None`` at the lowest)."""
    return next((t for t in LAS_THRESHOLDS if attained_gpu_s < t), None)


def srtf_priority(remaining_gpu_s: float) -> int:
    """Fewer remaining GPU-seconds, higher priority (an integer, as admission compares)."""
    return -math.ceil(remaining_gpu_s)
