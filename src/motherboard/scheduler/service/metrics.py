"""Prometheus metrics of the scheduler process (``motherboard_scheduler_*``), served on ``/metrics``."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

from motherboard.scheduler.admission import QuotaTree
from motherboard.scheduler.admission.units import QuantityError, quota_units

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

ATTEMPTS = Counter(
    "motherboard_scheduler_schedule_attempts_total",
    "Scheduling attempts of workloads (a gang counts once), by result.",
    ["result"],  # scheduled | unschedulable | preempting | error
)
E2E = Histogram(
    "motherboard_scheduler_e2e_scheduling_duration_seconds",
    "From a workload's head of queue to all its pods bound.",
    buckets=_LATENCY,
)
EXTENSION_POINT = Histogram(
    "motherboard_scheduler_extension_point_duration_seconds",
    "Time per extension point of one cycle (heads, admit, place) and of binding a gang (bind).",
    ["extension_point"],
    buckets=_LATENCY,
)
WAITING = Counter(
    "motherboard_scheduler_waiting_decisions_total",
    "Scheduling attempts that left a workload waiting, by queue and reason (OverQuota, NoFit, GangNoFit, ...).",
    ["queue", "reason"],
)
PENDING = Gauge("motherboard_scheduler_pending_pods", "Pods waiting to be scheduled, by queue.", ["queue"])
QUEUE_USAGE = Gauge(
    "motherboard_scheduler_queue_usage",
    "Quota used by admitted workloads: devices (a MIG slice or share counts its fraction), cores, bytes.",
    ["queue", "resource"],
)
QUEUE_QUOTA = Gauge(
    "motherboard_scheduler_queue_quota",
    "Nominal quota: devices, cores or bytes, as the Queue states it.",
    ["queue", "resource"],
)
QUEUE_BORROWING_LIMIT = Gauge(
    "motherboard_scheduler_queue_borrowing_limit",
    "How much above its nominal quota the queue may use (borrowingLimit); no series where it is unlimited.",
    ["queue", "resource"],
)
QUEUE_LENDING_LIMIT = Gauge(
    "motherboard_scheduler_queue_lending_limit",
    "How much of its idle nominal quota the queue lends (lendingLimit); no series where it lends all of it.",
    ["queue", "resource"],
)
PREEMPTIONS = Counter("motherboard_scheduler_preemption_victims_total", "Pods evicted to make room.")
PREEMPTION_ATTEMPTS = Counter("motherboard_scheduler_preemption_attempts_total", "Preemptions decided.")
BINDING_ERRORS = Counter(
    "motherboard_scheduler_binding_errors_total", "Failed bind calls, by step (bind).", ["step"]
)
BOUND = Counter("motherboard_scheduler_pods_bound_total", "Pods bound by this scheduler.")
LEADER = Gauge("motherboard_scheduler_leader", "1 while this replica holds the leader lease.")


def unit_scale(resource: str) -> int:
    """Quota units per stated unit of a quota key (``nvidia.com/gpu@pool``): 1,000 for devices and cores
    (admission counts milli-devices and millicores), 1 for bytes and anything counted as is."""
    name = resource.partition("@")[0]
    try:
        counted_as, per_unit = quota_units(name, 1)
    except QuantityError:
        return 1
    return per_unit if counted_as == name else 1


def observe_queues(tree: QuotaTree, pending: dict[str, int]) -> None:
    """Refresh the per-queue gauges (called a few times a second at most, not per pod)."""
    for queue, count in pending.items():
        PENDING.labels(queue).set(count)
    for queue in set(tree.queues()) - set(pending):
        PENDING.labels(queue).set(0)  # a queue that drained must not keep its last count
    for name in tree.queues():
        spec = tree.spec(name)
        usage = tree.usage(name)
        for resource in set(spec.quotas) | set(usage):
            # In the units the Queue states (8 GPUs reads 8, not admission's 8000 milli-GPUs).
            scale = unit_scale(resource)
            QUEUE_USAGE.labels(name, resource).set(usage.get_amount(resource) / scale)
            limits = spec.quota(resource)
            QUEUE_QUOTA.labels(name, resource).set(limits.nominal / scale)
            _set_or_drop(QUEUE_BORROWING_LIMIT, name, resource, limits.borrowing_limit, scale)
            _set_or_drop(QUEUE_LENDING_LIMIT, name, resource, limits.lending_limit, scale)


def _set_or_drop(gauge: Gauge, queue: str, resource: str, value: int | None, scale: int) -> None:
    # An unset limit is no limit: a series would have to invent a number, so there is none (and a limit
    # removed from the Queue takes its series with it).
    if value is not None:
        gauge.labels(queue, resource).set(value / scale)
        return
    with contextlib.suppress(KeyError):
        gauge.remove(queue, resource)


__all__ = [
    "ATTEMPTS",
    "BINDING_ERRORS",
    "BOUND",
    "E2E",
    "EXTENSION_POINT",
    "LEADER",
    "PENDING",
    "PREEMPTIONS",
    "PREEMPTION_ATTEMPTS",
    "QUEUE_BORROWING_LIMIT",
    "QUEUE_LENDING_LIMIT",
    "QUEUE_QUOTA",
    "QUEUE_USAGE",
    "WAITING",
    "observe_queues",
]
