"""The Helm chart: lints and renders for every values file, and what it renders keeps the promises of the
issue: generated files current, hardened pods, host paths only for device plugins, least-privilege RBAC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from motherboard.api.constants import LABEL_MODEL
from motherboard.deviceplugin.config import PluginConfig
from motherboard.devices.simulated import SimulatedConfig
from motherboard.operator.render import RUNTIME_METRICS_PORT, runtime_ports
from tests.unit.chart.helm import CHART, CI_VALUES, NAMESPACE, REPO, by_kind, helm, render

VALUE_FILES = [None, *CI_VALUES]
IDS = ["default", *(p.stem for p in CI_VALUES)]


@pytest.fixture(scope="module", params=VALUE_FILES, ids=IDS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param) if request.param else render()


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] in {"Deployment", "DaemonSet"}
    }


def test_chart_crds_are_the_generated_crds_byte_for_byte() -> None:
    generated = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == generated
    for name in generated:
        assert (CHART / "crds" / name).read_bytes() == (REPO / "crds" / name).read_bytes(), (
            f"charts/motherboard/crds/{name} differs from crds/{name}: cp crds/*.yaml charts/motherboard/crds/"
        )


@pytest.mark.parametrize("values", VALUE_FILES, ids=IDS)
def test_helm_lint_passes_strictly(values: Path | None) -> None:
    result = helm("lint", str(CHART), "--strict", *(["--values", str(values)] if values else []))
    assert result.returncode == 0, result.stdout + result.stderr


def test_operator_and_scheduler_pods_are_hardened_and_probed(rendered: list[dict[str, Any]]) -> None:
    deployments = by_kind(rendered, "Deployment")
    assert {d.split("-")[-1] for d in deployments} == {"operator", "scheduler"}
    for name, deployment in deployments.items():
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        (container,) = spec["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["privileged"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
        health = next(p["containerPort"] for p in container["ports"] if p["name"] == "health")
        assert f"--health-port={health}" in container["args"], name
        assert container["livenessProbe"]["httpGet"]["port"] == "health", name
        ready = container["readinessProbe"]
        # /readyz: only the replica that holds the Lease (and, for the operator, whose webhook configuration
        # is the real one) is ready, so the webhook Service routes to it alone.
        assert ready["httpGet"] == {"path": "/readyz", "port": "health"}, name
        # A read-only root needs a writable /tmp (webhook certificates, Python temp files).
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), name


def test_only_device_plugins_mount_host_paths(rendered: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(rendered).items():
        host_paths = [v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v]
        if name.startswith("DaemonSet/"):
            assert "/var/lib/kubelet/device-plugins" in host_paths, name
            assert spec["nodeSelector"], f"{name} would run on every node"
        else:
            assert host_paths == [], name


def test_scheduler_elects_a_leader_in_the_release_namespace(rendered: list[dict[str, Any]]) -> None:
    scheduler = next(d for n, d in by_kind(rendered, "Deployment").items() if n.endswith("scheduler"))
    args = scheduler["spec"]["template"]["spec"]["containers"][0]["args"]
    if scheduler["spec"]["replicas"] > 1:
        assert "--leader-elect" in args
    if "--leader-elect" in args:
        assert f"--lease-namespace={NAMESPACE}" in args
        (lease,) = [
            r
            for r in by_kind(rendered, "Role").values()
            if any("motherboard-scheduler" in rule.get("resourceNames", []) for rule in r["rules"])
        ]
        assert lease["metadata"]["namespace"] == NAMESPACE


def test_operator_replicas_hold_a_lease_in_the_release_namespace(rendered: list[dict[str, Any]]) -> None:
    operator = next(d for n, d in by_kind(rendered, "Deployment").items() if n.endswith("operator"))
    args = operator["spec"]["template"]["spec"]["containers"][0]["args"]
    if operator["spec"]["replicas"] > 1:
        assert "--leader-elect" in args
    if "--leader-elect" in args:
        assert f"--lease-namespace={NAMESPACE}" in args
        (role,) = [
            r
            for r in by_kind(rendered, "Role").values()
            if any("motherboard-operator" in rule.get("resourceNames", []) for rule in r["rules"])
        ]
        assert role["metadata"]["namespace"] == NAMESPACE
    else:
        assert operator["spec"]["strategy"] == {"type": "Recreate"}


def test_operator_webhook_host_is_its_service(rendered: list[dict[str, Any]]) -> None:
    operator = next(d for n, d in by_kind(rendered, "Deployment").items() if n.endswith("operator"))
    args = operator["spec"]["template"]["spec"]["containers"][0]["args"]
    hosts = [a.split("=", 1)[1] for a in args if a.startswith("--webhook-host=")]
    services = by_kind(rendered, "Service")
    if not hosts:
        assert not any(n.endswith("-webhook") for n in services)
        return
    service_name, namespace, _ = hosts[0].split(".")
    service = services[service_name]
    assert namespace == service["metadata"]["namespace"] == NAMESPACE
    port = next(a.split("=", 1)[1] for a in args if a.startswith("--webhook-port="))
    # kopf writes https://<host>:<listening port>/… into the configuration, so the Service uses that port.
    assert service["spec"]["ports"][0]["port"] == int(port)
    assert service["spec"]["selector"] == operator["spec"]["selector"]["matchLabels"]


def test_device_plugin_configurations_load_as_the_plugin_would(rendered: list[dict[str, Any]]) -> None:
    import yaml

    config_maps = by_kind(rendered, "ConfigMap")
    for name, daemonset in by_kind(rendered, "DaemonSet").items():
        config = yaml.safe_load(config_maps[name]["data"]["config.yaml"])
        plugin = PluginConfig.model_validate({**config, "nodeName": "node-0"})
        assert name.endswith(plugin.backend.value)
        assert str(plugin.plugin_dir) == "/var/lib/kubelet/device-plugins"
        if plugin.simulated_config is not None:
            devices = yaml.safe_load(config_maps[f"{name}-devices"]["data"]["devices.yaml"])
            SimulatedConfig.model_validate(devices)
        assert daemonset["spec"]["template"]["spec"]["containers"][0]["command"][-1].endswith("config.yaml")


def test_rbac_is_least_privilege(rendered: list[dict[str, Any]]) -> None:
    roles = {**by_kind(rendered, "ClusterRole"), **by_kind(rendered, "Role")}
    for name, role in roles.items():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], name
            assert "secrets" not in rule["resources"], f"{name} may touch Secrets"
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), name
    scheduler = next(r for n, r in by_kind(rendered, "ClusterRole").items() if n.endswith("scheduler"))
    granted = {
        (res, verb) for rule in scheduler["rules"] for res in rule["resources"] for verb in rule["verbs"]
    }
    needed = {
        ("pods/binding", "create"),
        ("pods/status", "patch"),
        ("pods/eviction", "create"),
        ("events", "create"),
        ("nodes", "watch"),
        ("queues", "list"),
        ("devicepools", "watch"),
    }
    assert needed <= granted
    assert not any(res == "nodes" and verb in {"patch", "update"} for res, verb in granted)


def test_dashboards_are_configmaps_for_the_grafana_sidecar(rendered: list[dict[str, Any]]) -> None:
    dashboards = {n: c for n, c in by_kind(rendered, "ConfigMap").items() if "-dashboard-" in n}
    files = {p.name: p.read_text() for p in (CHART / "dashboards").glob("*.json")}
    if not dashboards:  # ci/minimal turns them off
        return
    assert len(dashboards) == len(files) == 5  # devices, tenants, jobs, scheduler, inference
    for config_map in dashboards.values():
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = config_map["data"].items()
        assert json.loads(text) == json.loads(files[key.removeprefix("motherboard-")])


def test_service_monitors_scrape_every_component_and_label_devices_by_site_and_model() -> None:
    monitors = by_kind(
        render(CHART / "ci" / "monitoring-values.yaml", CHART / "ci" / "kwok-values.yaml"), "ServiceMonitor"
    )
    assert {n.rsplit("-", 1)[-1] for n in monitors} == {"operator", "scheduler", "plugin"}
    plugin = next(m for n, m in monitors.items() if n.endswith("device-plugin"))
    targets = {r["targetLabel"] for r in plugin["spec"]["endpoints"][0]["relabelings"]}
    assert {"site", "model", "vendor", "node"} <= targets
    assert plugin["spec"]["attachMetadata"] == {"node": True}


def test_a_pod_monitor_scrapes_the_model_replicas_the_operator_renders() -> None:
    monitors = by_kind(
        render(CHART / "ci" / "monitoring-values.yaml", CHART / "ci" / "kwok-values.yaml"), "PodMonitor"
    )
    (monitor,) = monitors.values()
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"any": True}  # replicas run in the users' namespaces
    assert spec["selector"]["matchExpressions"] == [{"key": LABEL_MODEL, "operator": "Exists"}]
    # The port the PodMonitor names is the one the operator gives the runtime container.
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    assert {"name": "metrics", "containerPort": RUNTIME_METRICS_PORT} in runtime_ports()
    # Only with the monitors: without the prometheus-operator's CRDs the install would fail on the kind.
    assert by_kind(render(CHART / "ci" / "kwok-values.yaml"), "PodMonitor") == {}


def test_two_schedulers_without_leader_election_are_refused() -> None:
    result = helm(
        "template",
        "mb",
        str(CHART),
        "--set",
        "scheduler.replicas=2",
        "--set",
        "scheduler.leaderElection.enabled=false",
    )
    assert result.returncode != 0
    assert "two leaders would bind the same devices twice" in result.stderr
