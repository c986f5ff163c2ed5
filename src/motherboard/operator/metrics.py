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
