"""The alerts operators page on, as Prometheus rules: one plain rule file, also wrapped as a ``PrometheusRule``.

``python -m motherboard.dashboards`` writes ``charts/motherboard/files/motherboard-alerts.rules.yaml`` (load
it with ``rule_files:`` in a plain Prometheus; the dev cluster's does); the chart's
``templates/monitoring/prometheusrule.yaml`` embeds the same groups for the prometheus-operator.
``tests/promtool/motherboard-alerts.test.yaml`` drives every alert with input series through
``promtool test rules``.

What each alert can and cannot see follows from the metrics: jobs carry no age, so "stuck pending" is a queue
whose waiting-job count has not reached zero for 30 minutes; queue gauges carry no parent, so "a lender
waits" is any queue below its nominal quota with pending pods while another queue of the same resource
borrows. The latency SLO reads the runtime's latency histogram (``motherboard_runtime_request_duration_seconds``):
the share of successful requests slower than the objective, a bucket bound of the runtime's histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

INFERENCE_LATENCY_SLO_MS = 100
"""The latency SLO's threshold: a bucket bound of the runtime's latency histogram (0.1 s)."""
INFERENCE_LATENCY_SLO_TARGET = 0.99
"""The latency SLO: 99 % of successful requests answer within the threshold."""
INFERENCE_ERROR_BUDGET = 0.001
"""The error SLO: 99.9 % of requests succeed."""
FAST_BURN = 14.4
"""Google SRE workbook: burning 2 % of a 30-day budget in one hour."""

_LATENCY_BURN = FAST_BURN * (1 - INFERENCE_LATENCY_SLO_TARGET)
"""Share of slow requests that burns the latency budget at the fast rate (14.4 %)."""
_CONTROL = 'job=~".*(operator|scheduler).*"'
_BY_VERSION = "model, version"


def _rate(metric: str, window: str) -> str:
    return f"sum by ({_BY_VERSION}) (rate({metric}[{window}]))"


def _requests(window: str) -> str:
    return (
        f"({_rate('nv_inference_request_success', window)} + {_rate('nv_inference_request_failure', window)})"
    )


def _error_ratio(window: str) -> str:
    return f"{_rate('nv_inference_request_failure', window)} / ({_requests(window)} > 0)"


_LATENCY = "motherboard_runtime_request_duration_seconds"


def _slow_ratio(window: str) -> str:
    """Share of successful requests slower than the SLO's threshold over ``window``."""
    bound = f"{INFERENCE_LATENCY_SLO_MS / 1000:g}"
    fast = _rate(f'{_LATENCY}_bucket{{le="{bound}"}}', window)
    return f"(1 - {fast} / ({_rate(f'{_LATENCY}_count', window)} > 0))"


@dataclass(frozen=True)
class Alert:
    """One alerting rule. ``severity`` is ``critical`` (page now) or ``warning`` (look today)."""

    name: str
    expr: str
    summary: str
    description: str
    duration: str = "0m"
    severity: str = "warning"

    def to_rule(self) -> dict[str, object]:
        rule: dict[str, object] = {"alert": self.name, "expr": self.expr}
        if self.duration != "0m":
            rule["for"] = self.duration
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {"summary": self.summary, "description": self.description}
        return rule


@dataclass(frozen=True)
class Group:
    name: str
    alerts: tuple[Alert, ...]


SCHEDULING = Group(
    "motherboard.scheduling",
    (
        Alert(
            "MotherboardJobsWaitingTooLong",
            'sum by (queue) (motherboard_operator_jobs{phase=~"Pending|Queued"}) > 0',
            "AIJobs have waited in queue {{ $labels.queue }} for 30 minutes",
            "{{ $value }} AIJobs are Pending or Queued in queue {{ $labels.queue }} and the count has not been "
            "zero for 30 minutes; `motherboard queue pending {{ $labels.queue }}` and `motherboard explain "
            "aijob` say why (quota, capacity, gang). Jobs with gang.scheduleTimeoutSeconds fail by themselves.",
            duration="30m",
        ),
        Alert(
            "MotherboardQueueBorrowingWhileLenderWaits",
            "(max by (queue, resource) (motherboard_scheduler_queue_usage)"
            " > max by (queue, resource) (motherboard_scheduler_queue_quota))"
            " and on (resource) ("
            "(max by (queue, resource) (motherboard_scheduler_queue_usage)"
            " < max by (queue, resource) (motherboard_scheduler_queue_quota))"
            " and on (queue) (max by (queue) (motherboard_scheduler_pending_pods) > 0))",
            "Queue {{ $labels.queue }} borrows {{ $labels.resource }} while a queue under its quota waits",
            "Queue {{ $labels.queue }} uses more {{ $labels.resource }} than its nominal quota while another "
            "queue below its own nominal quota has had pending pods for 10 minutes: reclaiming the loan "
            "(preemption) should have happened. Check the lender's preemption.reclaimFromBorrowers and the scheduler's "
            "preemption metrics.",
            duration="10m",
        ),
        Alert(
            "MotherboardSchedulingErrors",
            'sum(rate(motherboard_scheduler_schedule_attempts_total{result="error"}[10m])) > 0'
            " or sum(rate(motherboard_scheduler_binding_errors_total[10m])) > 0",
            "The scheduler fails to bind pods",
            "Scheduling attempts end in errors or bind calls fail ({{ $value }}/s over 10 minutes).",
            duration="10m",
        ),
    ),
)

CONTROL_PLANE = Group(
    "motherboard.control-plane",
    (
        Alert(
            "MotherboardSchedulerNoLeader",
            "(sum(motherboard_scheduler_leader) or vector(0)) < 1",
            "No Motherboard scheduler holds the leader lease",
            "Nothing schedules pods with schedulerName motherboard-scheduler: no replica reports "
            "motherboard_scheduler_leader 1 (lease lost, or every replica down).",
            duration="2m",
            severity="critical",
        ),
        Alert(
            "MotherboardOperatorNoLeader",
            "(sum(motherboard_operator_leader) or vector(0)) < 1",
            "No Motherboard operator holds the leader lease",
            "AIJobs are not reconciled and the admission webhook is not served: no operator replica reports "
            "motherboard_operator_leader 1.",
            duration="2m",
            severity="critical",
        ),
        Alert(
            "MotherboardComponentDown",
            f"up{{{_CONTROL}}} == 0",
            "{{ $labels.job }} on {{ $labels.instance }} cannot be scraped",
            "Prometheus has not reached {{ $labels.instance }} ({{ $labels.job }}) for 2 minutes.",
            duration="2m",
            severity="critical",
        ),
        Alert(
            "MotherboardComponentRestarting",
            f"changes(process_start_time_seconds{{{_CONTROL}}}[30m]) > 2",
            "{{ $labels.job }} restarted {{ $value }} times in 30 minutes",
            "The operator and the scheduler exit when a watch stops or the lease is lost, and Kubernetes "
            "restarts them; repeated restarts mean a watch or the lease keeps being lost. Read the previous "
            "container's log.",
            severity="critical",
        ),
    ),
)

DEVICES = Group(
    "motherboard.devices",
    (
        Alert(
            "MotherboardDevicesUnhealthy",
            'sum by (node, resource) (motherboard_deviceplugin_devices{state="Unhealthy"}) > 0',
            "{{ $value }} {{ $labels.resource }} units unhealthy on {{ $labels.node }}",
            "The device plugin on {{ $labels.node }} reports unhealthy units (XID error, ECC, lost device): "
            "they are not allocatable. Check the node's driver log and the device plugin's health log.",
            duration="5m",
        ),
        Alert(
            "MotherboardDeviceAllocateRefused",
            'sum by (node, resource) (increase(motherboard_deviceplugin_allocations_total{outcome!="ok"}[10m])) > 0',
            "The device plugin on {{ $labels.node }} refused or failed Allocate for {{ $labels.resource }}",
            "An Allocate call contradicted the scheduler's device assignment or failed: the pod does not start. "
            "`kubectl describe pod` shows the refusal.",
        ),
    ),
)

ADMISSION = Group(
    "motherboard.admission",
    (
        Alert(
            "MotherboardWebhookErrors",
            "sum by (name) (rate(apiserver_admission_webhook_rejection_count"
            '{name=~".*motherboard\\\\.io", error_type=~"calling_webhook_error|apiserver_internal_error"}[5m])) > 0',
            "The API server cannot call Motherboard's admission webhook {{ $labels.name }}",
            "Requests for AIJobs, Queues or DevicePools fail because the webhook does not answer (operator "
            "down, certificate or Service wrong). Real rejections of bad objects are not counted here.",
            duration="5m",
            severity="critical",
        ),
    ),
)

INFERENCE = Group(
    "motherboard.inference",
    (
        Alert(
            "MotherboardInferenceErrorRatio",
            f"{_error_ratio('5m')} > 0.05",
            "{{ $labels.model }} v{{ $labels.version }} fails {{ $value | humanizePercentage }} of requests",
            "More than 5 % of inference requests to this model version failed over 5 minutes.",
            duration="5m",
            severity="critical",
        ),
        Alert(
            "MotherboardInferenceErrorBudgetBurn",
            f"{_error_ratio('1h')} > {FAST_BURN * INFERENCE_ERROR_BUDGET:g}"
            f" and {_error_ratio('5m')} > {FAST_BURN * INFERENCE_ERROR_BUDGET:g}",
            "{{ $labels.model }} v{{ $labels.version }} burns its error budget 14x too fast",
            "The 99.9 % success SLO's budget burns at 14.4 times the sustainable rate over both the last hour "
            "and the last 5 minutes (2 % of a 30-day budget per hour).",
            severity="critical",
        ),
        Alert(
            "MotherboardInferenceLatencySLOBurn",
            f"{_slow_ratio('1h')} > {_LATENCY_BURN:g} and {_slow_ratio('5m')} > {_LATENCY_BURN:g}",
            "{{ $labels.model }} v{{ $labels.version }}: {{ $value | humanizePercentage }} of requests slower than "
            f"{INFERENCE_LATENCY_SLO_MS} ms",
            f"More than {_LATENCY_BURN:.1%} of requests took longer than {INFERENCE_LATENCY_SLO_MS} ms over both the "
            f"last hour and the last 5 minutes: the {INFERENCE_LATENCY_SLO_TARGET:.0%} latency SLO's budget burns "
            f"{FAST_BURN:g} times too fast. Queue delay against compute time on the Inference dashboard says "
            "whether to add instances or batch less.",
            severity="critical",
        ),
    ),
)

GROUPS: tuple[Group, ...] = (SCHEDULING, CONTROL_PLANE, DEVICES, ADMISSION, INFERENCE)
RULES_FILE = "motherboard-alerts.rules.yaml"


def alerts() -> list[Alert]:
    """Every alert of every group."""
    return [alert for group in GROUPS for alert in group.alerts]


def render_rules() -> str:
    """The plain Prometheus rule file (``groups:``), stable and with a trailing newline."""
    doc = {"groups": [{"name": g.name, "rules": [a.to_rule() for a in g.alerts]} for g in GROUPS]}
    header = "# Generated by `python -m motherboard.dashboards` from motherboard/dashboards/alerts.py.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=10_000, allow_unicode=True)
