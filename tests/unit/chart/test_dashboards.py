"""The Grafana dashboards: committed JSON matches the definitions, and every query reads only metrics the
operator, scheduler and device plugin really export (their metric objects, in the live default registry) or
the model runtime renders. tests/integration/test_prometheus.py evaluates every query in a real Prometheus."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest

from motherboard.dashboards import (
    DASHBOARDS,
    dashboard_metric_names,
    exposed_metric_names,
    metric_names,
    stale_files,
)
from motherboard.runtime.metrics import DeviceInfo
from motherboard.runtime.metrics import render as render_runtime_metrics
from motherboard.runtime.repository import Repository
from tests.unit.chart.helm import CHART

COMPONENT_METRICS = (
    "motherboard.operator.metrics",
    "motherboard.scheduler.service.metrics",
    "motherboard.deviceplugin.metrics",
)


def exported() -> set[str]:
    for module in COMPONENT_METRICS:
        importlib.import_module(module)  # registers the component's metrics in the default registry
    runtime = render_runtime_metrics(Repository(Path("/nonexistent")), DeviceInfo("cpu", "cpu"), 0)
    return exposed_metric_names(generate_latest(REGISTRY).decode()) | exposed_metric_names(runtime)


PROMQL_CASES = [
    ("up", {"up"}),
    ('sum by (queue) (rate(a_total{x="y", z=~"$q"}[5m]))', {"a_total"}),
    ("histogram_quantile(0.95, sum by (le, kind) (rate(h_bucket[$__rate_interval])))", {"h_bucket"}),
    ("clamp_min(max by (q) (u) - max by (q) (n), 0) / on (q) group_left (r) m", {"u", "n", "m"}),
    ('count(a{l="sum(b)"}) > bool 1 and c offset 1h', {"a", "c"}),
    ('process_cpu_seconds_total{pod=~".*scheduler.*"} * 60', {"process_cpu_seconds_total"}),
]


@pytest.mark.parametrize(("expr", "names"), PROMQL_CASES, ids=[c[0][:40] for c in PROMQL_CASES])
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exposition_type_lines_name_every_series_even_without_samples() -> None:
    text = "# TYPE a_total counter\n# TYPE h_seconds histogram\n# TYPE g gauge\ng 1\n"
    assert exposed_metric_names(text) == {
        "a_total",
        "a_created",
        "h_seconds_bucket",
        "h_seconds_sum",
        "h_seconds_count",
        "h_seconds_created",
        "g",
    }


def test_committed_dashboards_match_their_definitions() -> None:
    assert stale_files(CHART / "dashboards") == [], "run: python -m motherboard.dashboards"


def test_every_dashboard_query_uses_only_exported_metrics() -> None:
    known = exported()
    assert "motherboard_scheduler_extension_point_duration_seconds_bucket" in known  # the registry was read
    unknown = {
        (stem, expr, name)
        for stem, dashboard in DASHBOARDS.items()
        for expr, names in dashboard_metric_names(dashboard).items()
        for name in names
        if name not in known
    }
    assert unknown == set()


def test_every_dashboard_covers_its_subject() -> None:
    used = {stem: set().union(*dashboard_metric_names(d).values()) for stem, d in DASHBOARDS.items()}
    assert "motherboard_deviceplugin_devices" in used["devices"]
    assert {"motherboard_scheduler_queue_quota", "motherboard_scheduler_queue_usage"} <= used["tenants"]
    assert "motherboard_scheduler_pending_pods" in used["tenants"]
    assert {"motherboard_operator_jobs", "motherboard_scheduler_preemption_attempts_total"} <= used["jobs"]
    assert {
        "motherboard_scheduler_extension_point_duration_seconds_bucket",
        "motherboard_scheduler_schedule_attempts_total",
        "motherboard_scheduler_binding_errors_total",
    } <= used["scheduler"]
    assert {
        "nv_inference_request_success",
        "nv_inference_request_failure",
        "nv_inference_queue_duration_us",
        "motherboard_runtime_batch_size_bucket",
    } <= used["inference"]
    for dashboard in DASHBOARDS.values():
        assert all(dashboard_metric_names(dashboard).values()), "a query that reads no metric"


def test_panels_do_not_overlap_on_the_grid() -> None:
    for dashboard in DASHBOARDS.values():
        cells: set[tuple[int, int]] = set()
        for panel in dashboard.to_json()["panels"]:
            pos = panel["gridPos"]
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & area, f"{dashboard.uid}: {panel['title']} overlaps"
            assert pos["x"] + pos["w"] <= 24
            cells |= area
