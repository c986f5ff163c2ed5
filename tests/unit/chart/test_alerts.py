"""The alert rules: committed file current, valid for promtool, every alert fired (and held back) by input
series in ``promtool test rules``, every metric read exported by a component, and the chart's
PrometheusRule carrying exactly the rule file's groups."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest

from motherboard.dashboards import alerts, exposed_metric_names, metric_names, render_rules
from motherboard.dashboards.alerts import INFERENCE_LATENCY_SLO_MS, RULES_FILE
from motherboard.dashboards.render import stale_rules
from motherboard.runtime.metrics import DeviceInfo
from motherboard.runtime.metrics import render as render_runtime_metrics
from motherboard.runtime.repository import Repository
from motherboard.runtime.stats import LATENCY_BUCKETS_S
from tests.unit.chart.helm import CHART, REPO, by_kind, render

RULES = CHART / "files" / RULES_FILE
PROMTOOL_TESTS = REPO / "tests" / "promtool" / "motherboard-alerts.test.yaml"
KUBERNETES_METRICS = {
    "up",  # Prometheus's own per target
    "process_start_time_seconds",  # every Python client's process collector
    "apiserver_admission_webhook_rejection_count",  # kube-apiserver
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool is missing: `make system-packages` installs Debian's prometheus"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)


def exported() -> set[str]:
    for module in (
        "motherboard.operator.metrics",
        "motherboard.scheduler.service.metrics",
        "motherboard.deviceplugin.metrics",
    ):
        importlib.import_module(module)
    runtime = render_runtime_metrics(Repository(Path("/nonexistent")), DeviceInfo("cpu", "cpu"), 0)
    return exposed_metric_names(generate_latest(REGISTRY).decode()) | exposed_metric_names(runtime)


def test_committed_rule_file_matches_the_definitions() -> None:
    assert stale_rules(RULES.parent) == [], "run: python -m motherboard.dashboards"


def test_promtool_accepts_the_rule_file() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_every_alert_passes_its_promtool_unit_tests() -> None:
    result = promtool("test", "rules", str(PROMTOOL_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case.get("alert_rule_test", [])]
    fired = {c["alertname"] for c in checks if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in checks if not c.get("exp_alerts")}
    names = {a.name for a in alerts()}
    assert names - fired == set(), "alerts no test makes fire"
    assert names - quiet == set(), "alerts no test holds back"


def test_every_alert_reads_only_exported_metrics() -> None:
    known = exported() | KUBERNETES_METRICS
    assert "nv_inference_request_failure" in known and "motherboard_scheduler_leader" in known
    unknown = {(a.name, name) for a in alerts() for name in metric_names(a.expr) if name not in known}
    assert unknown == set()


def test_every_alert_has_a_severity_and_says_what_to_do() -> None:
    for alert in alerts():
        assert alert.severity in {"critical", "warning"}, alert.name
        assert alert.name.startswith("Motherboard"), alert.name
        assert len(alert.description) > 60, alert.name


def test_chart_renders_the_rule_file_as_a_prometheus_rule() -> None:
    assert by_kind(render(), "PrometheusRule") == {}  # off by default: it needs the operator's CRDs
    rendered = by_kind(render(CHART / "ci" / "monitoring-values.yaml"), "PrometheusRule")
    (rule,) = rendered.values()
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec: dict[str, Any] = rule["spec"]
    assert spec == yaml.safe_load(render_rules())
    groups = spec["groups"]
    assert [r["alert"] for g in groups for r in g["rules"]] == [a.name for a in alerts()]
    # Helm must not have templated Prometheus's own {{ $labels }} placeholders away.
    assert "{{ $labels.queue }}" in groups[0]["rules"][0]["annotations"]["summary"]


@pytest.mark.parametrize("severity", ["critical", "warning"])
def test_both_severities_are_used(severity: str) -> None:
    assert any(a.severity == severity for a in alerts())


def test_the_latency_slo_threshold_is_a_bound_of_the_runtime_histogram() -> None:
    # The alert reads the bucket whose le equals the threshold: a threshold between bounds would match no series.
    assert INFERENCE_LATENCY_SLO_MS / 1000 in LATENCY_BUCKETS_S
    rule = next(a for a in alerts() if a.name == "MotherboardInferenceLatencySLOBurn")
    assert f'le="{INFERENCE_LATENCY_SLO_MS / 1000:g}"' in rule.expr
