"""The operator's Prometheus metrics (``motherboard_operator_*``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS = Gauge("motherboard_operator_jobs", "AIJobs by phase and queue.", ["phase", "queue"])
RECONCILE_SECONDS = Histogram(
    "motherboard_operator_reconcile_duration_seconds",
    "Time to reconcile one AIJob (plan and apply).",
    # Up to minutes: under a burst a reconcile waits for a busy API server, and p99 must still be readable.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
RECONCILE_ERRORS = Counter(
    "motherboard_operator_reconcile_errors_total", "Reconciles that failed and will be retried.", ["reason"]
)
PODS_CREATED = Counter("motherboard_operator_pods_created_total", "Pods created for AIJobs.")
PODS_DELETED = Counter(
    "motherboard_operator_pods_deleted_total", "Pods deleted (restarts, suspension, cleanup)."
)
TRANSITIONS = Counter("motherboard_operator_job_transitions_total", "AIJob phase transitions.", ["phase"])
WEBHOOK_SECONDS = Histogram(
    "motherboard_operator_webhook_duration_seconds", "Admission webhook latency.", ["kind", "operation"]
)
WEBHOOK_REJECTIONS = Counter(
    "motherboard_operator_webhook_rejections_total", "Objects the admission webhook rejected.", ["kind"]
)
LEADER = Gauge(
    "motherboard_operator_leader", "1 while this replica holds the operator lease (or runs without one)."
)
# DevicePools, recomputed with their status (the operator already aggregates nodes and bound pods for it).
POOL_CAPACITY = Gauge(
    "motherboard_operator_devicepool_capacity",
    "Allocatable units per DevicePool and resource.",
    ["pool", "resource"],
)
POOL_ALLOCATED = Gauge(
    "motherboard_operator_devicepool_allocated",
    "Units held by bound, unfinished pods per DevicePool and resource.",
    ["pool", "resource"],
)
POOL_FREE_DEVICES = Gauge(
    "motherboard_operator_devicepool_free_devices",
    "Unused compute on a DevicePool's healthy devices, in devices (idle ones and the unused part of shared ones).",
    ["pool"],
)
POOL_IDLE_DEVICES = Gauge(
    "motherboard_operator_devicepool_idle_devices", "Healthy devices of a DevicePool nothing holds.", ["pool"]
)
POOL_LARGEST_IDLE = Gauge(
    "motherboard_operator_devicepool_largest_idle_block_devices",
    "The most idle devices of a DevicePool on one node: the biggest whole-device pod it can still take.",
    ["pool"],
)
POOL_FRAGMENTATION = Gauge(
    "motherboard_operator_devicepool_fragmentation_ratio",
    "Share of a DevicePool's free compute on partly held devices, which no whole-device request can use.",
    ["pool"],
)
