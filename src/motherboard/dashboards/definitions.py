"""The Motherboard dashboards: devices, tenants, jobs, scheduler health and (``inference.py``) inference.

Every query reads only metrics the components export (``motherboard_operator_*``,
``motherboard_scheduler_*``, ``motherboard_deviceplugin_*`` and the client library's ``process_*``); a unit
test and an integration test scraping the real processes hold them to that. Queue gauges are exported by
every scheduler replica, so per-queue queries take ``max by`` rather than ``sum by`` to count them once.
Device series carry ``site``, ``model`` and ``vendor`` from the node's labels through the chart's
ServiceMonitor relabelling (``serviceMonitor.nodeLabels``).
"""

from __future__ import annotations

from motherboard.dashboards.inference import INFERENCE
from motherboard.dashboards.model import Dashboard, Panel, Row, Target, Variable

_DEVICES = 'motherboard_deviceplugin_devices{site=~"$site"}'


def _devices(state: str) -> str:
    return f'motherboard_deviceplugin_devices{{site=~"$site", state="{state}"}}'


_USAGE = 'max by (queue, resource) (motherboard_scheduler_queue_usage{queue=~"$queue"})'
_QUOTA = 'max by (queue, resource) (motherboard_scheduler_queue_quota{queue=~"$queue"})'
_BORROW = 'max by (queue, resource) (motherboard_scheduler_queue_borrowing_limit{queue=~"$queue"})'
_E2E = "motherboard_scheduler_e2e_scheduling_duration_seconds_bucket"
# Exported by the operator's leader only (it computes pool status): max by (...) would do as well as sum.
_POOL_ALLOCATED = "motherboard_operator_devicepool_allocated"
_POOL_CAPACITY = "motherboard_operator_devicepool_capacity"


def _quantiles(bucket: str, by: str = "", legend: str = "") -> tuple[Target, ...]:
    grouping = f"le, {by}" if by else "le"
    return tuple(
        Target(
            f"histogram_quantile({q}, sum by ({grouping}) (rate({bucket}[$__rate_interval])))",
            f"{legend}p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    )


DEVICES = Dashboard(
    uid="motherboard-devices",
    title="Motherboard / Devices",
    description="Accelerator units the device plugins advertise, by site, model and resource; health and allocation.",
    variables=(Variable("site", "label_values(motherboard_deviceplugin_devices, site)", "Site"),),
    rows=(
        Row(
            "Capacity",
            (
                Panel(
                    "Healthy units",
                    (Target(f"sum({_devices('Healthy')})"),),
                    kind="stat",
                    width=6,
                    height=5,
                    description="Units (whole devices, MIG slices, shares) advertised healthy to the kubelets.",
                ),
                Panel(
                    "Unhealthy units",
                    (Target(f"sum({_devices('Unhealthy')})"),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Nodes with a device plugin",
                    (Target(f"count(count by (node) ({_DEVICES}))"),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Healthy share",
                    (
                        Target(
                            f"sum({_devices('Healthy')}) / clamp_min(sum({_DEVICES}), 1)",
                        ),
                    ),
                    kind="stat",
                    unit="percentunit",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Units by site and model",
                    (Target(f"sum by (site, model) ({_DEVICES})", "{{site}} {{model}}"),),
                    description="Capacity over time: what the plugins advertise, healthy or not.",
                ),
                Panel(
                    "Unhealthy units by site and resource",
                    (Target(f"sum by (site, resource) ({_devices('Unhealthy')})", "{{site}} {{resource}}"),),
                ),
                Panel(
                    "Inventory",
                    (Target(f"sum by (site, vendor, model, resource, state) ({_DEVICES})"),),
                    kind="table",
                    width=24,
                    description="Units per site, vendor, model, advertised resource (whole, MIG profile, shares) and state.",
                ),
            ),
        ),
        Row(
            "Allocation and health",
            (
                Panel(
                    "Allocate calls by outcome",
                    (
                        Target(
                            'sum by (resource, outcome) (rate(motherboard_deviceplugin_allocations_total{site=~"$site"}[$__rate_interval]))',
                            "{{resource}} {{outcome}}",
                        ),
                    ),
                    unit="reqps",
                    description="A refused Allocate contradicted the scheduler's device assignment.",
                ),
                Panel(
                    "Health transitions (last hour)",
                    (
                        Target(
                            'sum by (site, resource, state) (increase(motherboard_deviceplugin_health_transitions_total{site=~"$site"}[1h]))',
                            "{{site}} {{resource}} → {{state}}",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            "Device pools",
            (
                Panel(
                    "Allocated and capacity per pool",
                    (
                        Target(
                            f"sum by (pool, resource) ({_POOL_ALLOCATED})", "{{pool}} {{resource}} allocated"
                        ),
                        Target(
                            f"sum by (pool, resource) ({_POOL_CAPACITY})", "{{pool}} {{resource}} capacity"
                        ),
                    ),
                    description="Units of each pool's resources (whole devices, MIG profile slices, shares) held by bound pods, against allocatable.",
                ),
                Panel(
                    "Allocated / capacity",
                    (
                        Target(
                            f"sum by (pool, resource) ({_POOL_ALLOCATED}) / (sum by (pool, resource) ({_POOL_CAPACITY}) > 0)",
                            "{{pool}} {{resource}}",
                            instant=True,
                        ),
                    ),
                    kind="bargauge",
                    unit="percentunit",
                ),
                Panel(
                    "Free devices per pool",
                    (
                        Target(
                            "max by (pool) (motherboard_operator_devicepool_free_devices)", "{{pool}} free"
                        ),
                        Target(
                            "max by (pool) (motherboard_operator_devicepool_idle_devices)", "{{pool}} idle"
                        ),
                        Target(
                            "max by (pool) (motherboard_operator_devicepool_largest_idle_block_devices)",
                            "{{pool}} largest idle block on one node",
                        ),
                    ),
                    description="Free: unused compute on healthy devices, in devices. Idle: devices nothing holds. "
                    "Largest idle block: the biggest whole-device pod the pool can still take.",
                ),
                Panel(
                    "Fragmentation per pool",
                    (
                        Target(
                            "max by (pool) (motherboard_operator_devicepool_fragmentation_ratio)", "{{pool}}"
                        ),
                    ),
                    unit="percentunit",
                    description="Share of the free compute on devices that shares or MIG slices hold in part: no whole-device request can use it.",
                ),
            ),
        ),
    ),
)


TENANTS = Dashboard(
    uid="motherboard-tenants",
    title="Motherboard / Tenants",
    description="Queues: nominal quota against usage, borrowing above nominal, unused (lendable) quota, pending work and wait.",
    variables=(Variable("queue", "label_values(motherboard_scheduler_queue_quota, queue)", "Queue"),),
    rows=(
        Row(
            "Quota",
            (
                Panel(
                    "Usage against nominal quota",
                    (
                        Target(_USAGE, "{{queue}} {{resource}} used"),
                        Target(_QUOTA, "{{queue}} {{resource}} nominal"),
                        Target(f"{_QUOTA} + {_BORROW}", "{{queue}} {{resource}} nominal + borrowing limit"),
                    ),
                    width=24,
                    description=(
                        "Quota units: 1 = one whole device; a MIG slice or share counts its compute fraction. "
                        "The most a queue may use is nominal + borrowing limit (none drawn: no limit but its "
                        "parent's)."
                    ),
                ),
                Panel(
                    "Usage / nominal",
                    (Target(f"{_USAGE} / ({_QUOTA} > 0)", "{{queue}} {{resource}}", instant=True),),
                    kind="bargauge",
                    unit="percentunit",
                    description="Above 100 %: the queue borrows from its siblings.",
                ),
                Panel(
                    "Borrowed (usage above nominal)",
                    (Target(f"clamp_min({_USAGE} - {_QUOTA}, 0)", "{{queue}} {{resource}}"),),
                ),
                Panel(
                    "Unused nominal quota (lendable)",
                    (Target(f"clamp_min({_QUOTA} - {_USAGE}, 0)", "{{queue}} {{resource}}"),),
                    description="What the queue could lend to its siblings, before its lendingLimit.",
                ),
            ),
        ),
        Row(
            "Waiting",
            (
                Panel(
                    "Pending pods by queue",
                    (
                        Target(
                            'max by (queue) (motherboard_scheduler_pending_pods{queue=~"$queue"})',
                            "{{queue}}",
                        ),
                    ),
                ),
                Panel(
                    "Pending jobs by queue",
                    (
                        Target(
                            'sum by (queue) (motherboard_operator_jobs{phase=~"Pending|Queued", queue=~"$queue"})',
                            "{{queue}}",
                        ),
                    ),
                ),
                Panel(
                    "Pending reasons",
                    (
                        Target(
                            "sum by (queue, reason) (rate(motherboard_scheduler_waiting_decisions_total"
                            '{queue=~"$queue"}[$__rate_interval])) * 60',
                            "{{queue}} {{reason}}",
                        ),
                    ),
                    description="Scheduling attempts per minute that left a workload waiting, by reason: "
                    "OverQuota (no free quota, nothing to preempt), ExceedsLimit (more than nominal + "
                    "borrowing), NoFit / GangNoFit (no room on the nodes for the pod / the whole gang), "
                    "PreemptionPending, queue problems. Per job: `motherboard explain aijob`.",
                ),
                Panel(
                    "Gang wait (head of queue to all pods bound)",
                    _quantiles(_E2E),
                    unit="s",
                    description="Scheduling latency of workloads (a gang counts once, when its last pod is "
                    "bound), over all queues.",
                ),
            ),
        ),
    ),
)

JOBS = Dashboard(
    uid="motherboard-jobs",
    title="Motherboard / Jobs",
    description="AIJobs by phase, admission latency, preemptions, and the operator that drives them.",
    rows=(
        Row(
            "Jobs",
            (
                Panel(
                    "Running",
                    (Target('sum(motherboard_operator_jobs{phase="Running"}) or vector(0)'),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Waiting",
                    (
                        Target(
                            'sum(motherboard_operator_jobs{phase=~"Pending|Queued|Admitted"}) or vector(0)'
                        ),
                    ),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Failed",
                    (Target('sum(motherboard_operator_jobs{phase="Failed"}) or vector(0)'),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Preempted",
                    (Target('sum(motherboard_operator_jobs{phase="Preempted"}) or vector(0)'),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel("Jobs by phase", (Target("sum by (phase) (motherboard_operator_jobs)", "{{phase}}"),)),
                Panel(
                    "Phase transitions per minute",
                    (
                        Target(
                            "sum by (phase) (rate(motherboard_operator_job_transitions_total[$__rate_interval])) * 60",
                            "→ {{phase}}",
                        ),
                    ),
                ),
                Panel("Admission latency (head of queue to bound)", _quantiles(_E2E), unit="s"),
                Panel(
                    "Preemptions per minute",
                    (
                        Target(
                            "sum(rate(motherboard_scheduler_preemption_attempts_total[$__rate_interval])) * 60",
                            "preemptions",
                        ),
                        Target(
                            "sum(rate(motherboard_scheduler_preemption_victims_total[$__rate_interval])) * 60",
                            "victim pods",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            "Operator",
            (
                Panel(
                    "Pods created and deleted per second",
                    (
                        Target(
                            "sum(rate(motherboard_operator_pods_created_total[$__rate_interval]))", "created"
                        ),
                        Target(
                            "sum(rate(motherboard_operator_pods_deleted_total[$__rate_interval]))", "deleted"
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Reconcile latency",
                    _quantiles("motherboard_operator_reconcile_duration_seconds_bucket"),
                    unit="s",
                ),
                Panel(
                    "Reconcile errors by reason",
                    (
                        Target(
                            "sum by (reason) (rate(motherboard_operator_reconcile_errors_total[$__rate_interval]))",
                            "{{reason}}",
                            sparse=True,
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Admission webhook: p95 latency and rejections",
                    (
                        Target(
                            "histogram_quantile(0.95, sum by (le, kind) "
                            "(rate(motherboard_operator_webhook_duration_seconds_bucket[$__rate_interval])))",
                            "{{kind}} p95 (s)",
                        ),
                        Target(
                            "sum by (kind) (rate(motherboard_operator_webhook_rejections_total[$__rate_interval]))",
                            "{{kind}} rejections/s",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

SCHEDULER = Dashboard(
    uid="motherboard-scheduler",
    title="Motherboard / Scheduler health",
    description="Latency by extension point, throughput, errors, leadership and the process itself.",
    rows=(
        Row(
            "Overview",
            (
                Panel(
                    "Leaders",
                    (Target("sum(motherboard_scheduler_leader)"),),
                    kind="stat",
                    width=6,
                    height=5,
                    description="Must be 1: 0 means nobody schedules; the Lease makes 2 impossible.",
                ),
                Panel(
                    "Pods bound per second",
                    (Target("sum(rate(motherboard_scheduler_pods_bound_total[$__rate_interval]))"),),
                    kind="stat",
                    unit="ops",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Pending pods",
                    (Target("sum(max by (queue) (motherboard_scheduler_pending_pods))"),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Binding errors (last hour)",
                    (Target("sum(increase(motherboard_scheduler_binding_errors_total[1h])) or vector(0)"),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
            ),
        ),
        Row(
            "Latency",
            (
                Panel(
                    "p95 by extension point",
                    (
                        Target(
                            "histogram_quantile(0.95, sum by (le, extension_point) "
                            "(rate(motherboard_scheduler_extension_point_duration_seconds_bucket[$__rate_interval])))",
                            "{{extension_point}}",
                        ),
                    ),
                    unit="s",
                    description="heads, admit, place (one cycle) and bind (the API write, assignment included).",
                ),
                Panel(
                    "p99 by extension point",
                    (
                        Target(
                            "histogram_quantile(0.99, sum by (le, extension_point) "
                            "(rate(motherboard_scheduler_extension_point_duration_seconds_bucket[$__rate_interval])))",
                            "{{extension_point}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel("End-to-end scheduling latency", _quantiles(_E2E), unit="s", width=24),
            ),
        ),
        Row(
            "Throughput and errors",
            (
                Panel(
                    "Scheduling attempts by result",
                    (
                        Target(
                            "sum by (result) (rate(motherboard_scheduler_schedule_attempts_total[$__rate_interval]))",
                            "{{result}}",
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Binding errors by step",
                    (
                        Target(
                            "sum by (step) (rate(motherboard_scheduler_binding_errors_total[$__rate_interval]))",
                            "{{step}}",
                            sparse=True,
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Scheduler memory",
                    (Target('process_resident_memory_bytes{job=~".*scheduler.*"}', "{{instance}}"),),
                    unit="bytes",
                ),
                Panel(
                    "Scheduler CPU",
                    (
                        Target(
                            'rate(process_cpu_seconds_total{job=~".*scheduler.*"}[$__rate_interval])',
                            "{{instance}}",
                        ),
                    ),
                    unit="percentunit",
                ),
            ),
        ),
    ),
)

DASHBOARDS: dict[str, Dashboard] = {
    "devices": DEVICES,
    "tenants": TENANTS,
    "jobs": JOBS,
    "scheduler": SCHEDULER,
    "inference": INFERENCE,
}
"""File stem in ``charts/motherboard/dashboards/`` → dashboard."""
