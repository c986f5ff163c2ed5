"""Every dashboard panel evaluated by a real Prometheus against the real processes, and the alert rules loaded.

One cluster of its own (``up(prometheus=True)``: Debian's Prometheus scraping the kube-apiserver), the
operator with its webhook and the scheduler as in ``make demo``, a simulated device plugin behind a fake
kubelet registration socket, and ``motherboard runtime serve`` with a small ONNX model under concurrent
load. The demo's examples run to completion, one device turns unhealthy, the kubelet's Allocate is played; then each
panel's query goes through ``/api/v1/query_range`` (or ``/api/v1/query`` for instant panels) over the test's
window, with Grafana's variables set to "All", and must answer numbers with every label its legend names.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from kubernetes import client

from motherboard.dashboards import DASHBOARDS, exposed_metric_names, metric_names
from motherboard.dashboards.model import Dashboard, Panel, Target
from motherboard.demo import components
from motherboard.demo.run import finished
from motherboard.devcluster import prometheus as prom
from motherboard.devcluster.build import ensure_binaries
from motherboard.devcluster.cluster import DevCluster, default_profile
from motherboard.devcluster.fakenodes import api_client
from motherboard.devcluster.health import free_ports
from motherboard.devcluster.procs import is_alive
from motherboard.devcluster.profile import ClusterProfile
from motherboard.deviceplugin.proto import grpc_stubs, pb
from motherboard.deviceplugin.server import endpoint_name
from tests.unit.runtime import onnx_models as om

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
STEP_S = 4.0
RATE_INTERVAL = "12s"
"""Grafana's ``$__rate_interval`` for this Prometheus: max(4 x the 2 s scrape, step + scrape), rounded up."""
PLUGIN_NODE = "sim-node-0"
PLUGIN_LABELS = {"node": PLUGIN_NODE, "site": "central", "model": "A100-80GB", "vendor": "nvidia"}
"""What the chart's ServiceMonitor relabelling copies from the node's labels onto device plugin series."""
SIMULATED_DEVICES = """\
driverVersion: "550.54.15"
devices:
  - {model: A100-80GB, count: 2, memoryMiB: 81920}
  - {model: A100-80GB, count: 1, memoryMiB: 81920, migLayouts: [[3g.40gb, 1g.10gb, 1g.10gb]]}
"""
SERVING = "mlp"
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class FakeKubelet:
    """The kubelet's ``Registration`` service: the device plugin registers here and then serves."""

    def __init__(self, socket: Path) -> None:
        self.socket, self.registered = socket, threading.Event()
        self.server = grpc.server(ThreadPoolExecutor(max_workers=2))
        grpc_stubs.add_RegistrationServicer_to_server(self, self.server)
        self.server.add_insecure_port(f"unix://{socket}")
        self.server.start()

    def Register(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method name
        self.registered.set()
        return pb.Empty()

    def stop(self) -> None:
        self.server.stop(0).wait()


@dataclass
class Stack:
    """What the module started, and the window the queries cover."""

    dev: DevCluster
    api: prom.PrometheusAPI
    started: float
    ended: float
    logs: Path


def _wait(what: str, check: Any, timeout_s: float, interval_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def _start_runtime(repository: Path, log: Path) -> tuple[subprocess.Popen[str], dict[str, int]]:
    argv = [
        sys.executable, "-m", "motherboard.cli", "runtime", "serve", "--repository", str(repository),
        "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0", "--threads", "1",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MOTHERBOARD_DEVICE": "cpu-test"}
    with log.open("w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready and (line := proc.stdout.readline()).startswith("{"):
            return proc, json.loads(line)
    proc.kill()
    raise AssertionError(f"the runtime did not start: {log.read_text()[-2000:]}")


def _infer(port: int, rows: int, good: bool = True) -> int:
    features = [0.5] * (16 if good else 15)
    body = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [rows, len(features)], "datatype": "FP32", "data": features * rows}
            ]
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/models/{SERVING}/infer", data=body, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _inference_load(port: int, seconds: float) -> tuple[int, int]:
    """Concurrent clients for ``seconds`` (so the batcher batches), plus three malformed requests."""
    stop = time.monotonic() + seconds
    codes: list[int] = []

    def client_loop(rows: int) -> None:
        while time.monotonic() < stop:
            codes.append(_infer(port, rows))

    threads = [threading.Thread(target=client_loop, args=(1 + i % 2,)) for i in range(6)]
    for thread in threads:
        thread.start()
    bad = [_infer(port, 1, good=False) for _ in range(3)]
    for thread in threads:
        thread.join()
    assert all(code == 400 for code in bad), bad
    return sum(code == 200 for code in codes), len(codes)


def _allocate(plugin_dir: Path) -> None:
    """One Allocate call, as the kubelet makes when a pod starts (answered and counted by outcome)."""
    with grpc.insecure_channel(f"unix://{plugin_dir / endpoint_name('nvidia.com/gpu')}") as channel:
        stub = grpc_stubs.DevicePluginStub(channel)
        request = pb.AllocateRequest(
            container_requests=[pb.ContainerAllocateRequest(devices_ids=["GPU-sim-1"])]
        )
        response = stub.Allocate(request, timeout=10)
        assert len(response.container_responses) == 1


def _jobs_done(custom: client.CustomObjectsApi) -> bool:
    listed: Any = custom.list_cluster_custom_object("motherboard.io", "v1alpha1", "aijobs")
    items: list[dict[str, Any]] = listed["items"]
    return finished(items)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("prometheus")
    dev = DevCluster(work / "dev-cluster")
    bins = ensure_binaries()
    processes: list[components.Component] = []
    runtime: subprocess.Popen[str] | None = None
    kubelet: FakeKubelet | None = None
    # Unix socket paths are limited to 107 bytes: pytest's tmp_path is too deep for them.
    plugin_dir = Path(tempfile.mkdtemp(prefix="mb-prom-", dir="/tmp"))
    env = pytest.MonkeyPatch()
    try:
        dev.up(ClusterProfile.load(default_profile()), bins=bins, prometheus=True)
        url = dev.prometheus_url()
        assert url is not None
        assert {c.name: c.healthy for c in dev.status()}.get("prometheus") is True
        api = prom.PrometheusAPI(url)
        started = time.time()
        kubectl = [str(bins.kubectl), f"--kubeconfig={dev.kubeconfig}"]
        subprocess.run(
            [*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], check=True, capture_output=True
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"],
            check=True,
            capture_output=True,
        )
        logs = dev.dir / "logs"
        # The operator (with its webhook) and the scheduler, as make demo runs them, registered for scraping.
        for part in (components.operator(dev.kubeconfig, logs), components.scheduler(dev.kubeconfig, logs)):
            part.start()
            processes.append(part)
            prom.register_target(dev.dir, f"motherboard-{part.name}", part.name, part.ports["metrics"])

        def webhook_rejects() -> bool:
            probe = subprocess.run(
                [*kubectl, "create", "--dry-run=server", "-f", "-"],
                input=components.WEBHOOK_PROBE,
                capture_output=True,
                text=True,
                check=False,
            )
            return components.webhook_checks(probe.returncode, probe.stderr)

        _wait("the operator's admission webhook", webhook_rejects, 120)
        # A simulated device plugin, registered with a fake kubelet, scraped with its node's labels.
        devices = plugin_dir / "devices.yaml"
        devices.write_text(SIMULATED_DEVICES)
        kubelet = FakeKubelet(plugin_dir / "kubelet.sock")
        (plugin_port,) = free_ports(1)
        config = plugin_dir / "plugin.yaml"
        config.write_text(
            json.dumps(
                {
                    "nodeName": PLUGIN_NODE,
                    "backend": "simulated",
                    "pluginDir": str(plugin_dir),
                    "stateFile": None,
                    "simulatedConfig": str(devices),
                    "metricsPort": plugin_port,
                    "publishNode": False,
                    "healthPollSeconds": 0.5,
                }
            )
        )
        plugin = components.Component(
            "device-plugin", ["device-plugin", "run", f"--config={config}"], logs / "device-plugin.log"
        )
        env.setenv("KUBECONFIG", str(dev.kubeconfig))  # the plugin reads pods through the API server
        plugin.start()
        env.undo()
        processes.append(plugin)
        assert kubelet.registered.wait(60), plugin.tail()
        prom.register_target(dev.dir, "motherboard-device-plugin", PLUGIN_NODE, plugin_port, PLUGIN_LABELS)
        # The model runtime with a dynamically batched ONNX model.
        repository = work / "models"
        om.mlp(repository / SERVING / "1" / "model.onnx", seed=3)
        om.write_config(
            repository / SERVING,
            {
                "max_batch_size": 8,
                "dynamic_batching": {"max_queue_delay_microseconds": 3000},
                "instance_group": [{"count": 1}],
            },
        )
        runtime, ports = _start_runtime(repository, logs / "runtime.log")
        prom.register_target(dev.dir, "motherboard-runtime", "runtime-0", ports["metrics"])
        # The demo's workload; then, while the inference load runs, two more copies of its DDP job (after a
        # few scrapes, so the webhook's per-kind series already exist and their increase shows in a rate):
        # research borrows, and one copy waits for quota.
        subprocess.run([*kubectl, "apply", "-f", str(EXAMPLES)], check=True, capture_output=True, text=True)
        ddp = yaml.safe_load((EXAMPLES / "30-pytorch-ddp-8gpu.yaml").read_text())
        copies = [{**ddp, "metadata": {**ddp["metadata"], "name": f"llama-finetune-{i}"}} for i in (2, 3)]
        ok, sent = _inference_load(ports["http"], 10)
        subprocess.run(
            [*kubectl, "apply", "-f", "-"],
            input=yaml.safe_dump_all(copies),
            check=True,
            capture_output=True,
            text=True,
        )
        more_ok, more_sent = _inference_load(ports["http"], 10)
        ok, sent = ok + more_ok, sent + more_sent
        assert ok == sent > 100, (ok, sent)
        devices.write_text(SIMULATED_DEVICES + "health: {GPU-sim-0: Unhealthy}\n")
        _allocate(plugin_dir)
        custom = client.CustomObjectsApi(api_client(dev.kubeconfig))
        _wait("the examples' jobs to finish", lambda: _jobs_done(custom), 240, 2)
        for part in processes:
            assert part.alive(), f"{part.name} stopped:\n{part.tail()}"
        _wait(
            "every target scraped",
            lambda: (
                {t["labels"]["job"] for t in api.targets() if t["health"] == "up"}
                == {"kube-apiserver", *prom.JOBS}
            ),
            60,
        )
        time.sleep(6)  # three more scrapes: the last changes (health, Allocate) are in
        yield Stack(dev, api, started, time.time(), logs)
    finally:
        for part in reversed(processes):
            part.stop()
        if runtime is not None:
            runtime.terminate()
            runtime.wait(30)
            if runtime.stdout is not None:
                runtime.stdout.close()
        if kubelet is not None:
            kubelet.stop()
        env.undo()
        state = dev.load_state()
        server = state.processes.get("prometheus") if state else None
        dev.down()
        shutil.rmtree(plugin_dir, ignore_errors=True)
        assert server is None or not is_alive(server), "down left Prometheus running"


def _grafana(expr: str, dashboard: Dashboard) -> str:
    """The query Grafana sends: ``$__rate_interval`` for this scrape interval, every variable "All"."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    for variable in dashboard.variables:
        expr = expr.replace(f"${variable.name}", ".*")
    return expr


def _problem(stack: Stack, dashboard: Dashboard, panel: Panel, target: Target) -> str | None:
    """Why this target would show "No data" or a legend with holes; None when it answers."""
    expr = _grafana(target.expr, dashboard)
    try:
        if target.instant or panel.kind == "table":
            series = [prom.Series(s.labels, [s.value]) for s in stack.api.query(expr)]
        else:
            series = stack.api.query_range(expr, stack.started, stack.ended, STEP_S)
    except prom.PrometheusError as exc:
        return f"refused: {exc}"
    if target.sparse:
        declared = set().union(*(exposed_metric_names(page) for page in _scraped_pages(stack)))
        missing = metric_names(expr) - declared
        return (
            f"sparse target reading {sorted(missing)}, which no scraped process declares" if missing else None
        )
    numbers = prom.answering(series)
    if not numbers:
        return f"no data ({len(series)} series, all NaN)" if series else "no data"
    wanted = set(LEGEND_LABEL.findall(target.legend))
    if wanted and not any(wanted <= {k for k, v in s.labels.items() if v} for s in numbers):
        return f"no series carries the legend's labels {sorted(wanted)}: {numbers[0].labels}"
    return None


def _scraped_pages(stack: Stack) -> list[str]:
    """The ``/metrics`` text of every target Prometheus scrapes over plain HTTP (ours, not the API server)."""
    pages = []
    for target in stack.api.targets():
        if target["scrapeUrl"].startswith("http:"):
            with urllib.request.urlopen(target["scrapeUrl"], timeout=10) as response:
                pages.append(response.read().decode())
    return pages


def _max_over_window(stack: Stack, expr: str, **labels: str) -> float:
    series = stack.api.query_range(expr, stack.started, stack.ended, STEP_S)
    values = [v for s in series if labels.items() <= s.labels.items() for v in s.values if not math.isnan(v)]
    assert values, f"{expr} {labels}: no data"
    return max(values)


def test_every_panel_query_answers_with_its_legend_labels(stack: Stack) -> None:
    problems = [
        f"{dashboard.title} / {panel.title} [{target.legend or target.expr[:40]}]: {problem}"
        for dashboard in DASHBOARDS.values()
        for row in dashboard.rows
        for panel in row.panels
        for target in panel.targets
        if (problem := _problem(stack, dashboard, panel, target)) is not None
    ]
    assert problems == [], "\n".join(problems)


def test_every_dashboard_variable_lists_values(stack: Stack) -> None:
    for dashboard in DASHBOARDS.values():
        for variable in dashboard.variables:
            found = re.match(r"label_values\((\w+),\s*(\w+)\)", variable.query)
            assert found, variable.query
            metric, label = found.groups()
            values = {s.labels.get(label) for s in stack.api.query(f"count by ({label}) ({metric})")}
            assert values - {None}, f"{dashboard.title}: ${variable.name} would list nothing"


def test_alert_rules_evaluate_against_real_series(stack: Stack) -> None:
    rules = stack.api.rules()
    assert {r["name"] for r in rules} >= {"MotherboardSchedulerNoLeader", "MotherboardDevicesUnhealthy"}
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert broken == {}
    state = {r["name"]: r for r in rules}
    # The device turned unhealthy: its alert waits out its 5 minutes, with the node the plugin runs on.
    unhealthy = state["MotherboardDevicesUnhealthy"]
    assert unhealthy["state"] == "pending", unhealthy
    assert {a["labels"]["node"] for a in unhealthy["alerts"]} == {PLUGIN_NODE}
    # A healthy control plane pages nobody.
    for quiet in (
        "MotherboardSchedulerNoLeader",
        "MotherboardOperatorNoLeader",
        "MotherboardComponentDown",
        "MotherboardComponentRestarting",
        "MotherboardWebhookErrors",
        "MotherboardInferenceErrorRatio",
        "MotherboardInferenceErrorBudgetBurn",
        "MotherboardInferenceLatencySLOBurn",
    ):
        assert state[quiet]["state"] == "inactive", state[quiet]


def test_the_apiserver_counts_webhook_calls_the_webhook_alert_reads(stack: Stack) -> None:
    calls = stack.api.query(
        'apiserver_admission_webhook_admission_duration_seconds_count{name=~".*motherboard\\\\.io"}'
    )
    assert calls, "the API server exported no admission-webhook series for Motherboard's webhooks"
    assert stack.api.metadata("apiserver_admission_webhook_rejection_count")


def test_panels_show_what_the_workload_did(stack: Stack) -> None:
    """Not only data: the numbers the demo's workload must have produced."""
    usage = 'max by (queue, resource) (motherboard_scheduler_queue_usage{queue=~".*"})'
    quota = 'max by (queue, resource) (motherboard_scheduler_queue_quota{queue=~".*"})'
    gpu = {"queue": "research", "resource": "nvidia.com/gpu"}
    # examples/10-queues.yaml: research has 8 GPUs nominal and may borrow 8; two 8-GPU DDP jobs ran at once.
    assert _max_over_window(stack, quota, **gpu) == 8
    borrowing = 'max by (queue, resource) (motherboard_scheduler_queue_borrowing_limit{queue=~".*"})'
    assert _max_over_window(stack, f"{quota} + {borrowing}", **gpu) == 16  # the Tenants panel's ceiling
    assert _max_over_window(stack, usage, **gpu) == 16
    assert _max_over_window(stack, f"clamp_min({usage} - {quota}, 0)", **gpu) == 8
    # The third copy waited for quota: pending in the operator's phases and the scheduler's queue.
    pending_jobs = 'sum by (queue) (motherboard_operator_jobs{phase=~"Pending|Queued", queue=~".*"})'
    assert _max_over_window(stack, pending_jobs, queue="research") >= 1
    assert (
        _max_over_window(stack, "max by (queue) (motherboard_scheduler_pending_pods)", queue="research") >= 2
    )
    waiting = "sum by (queue, reason) (motherboard_scheduler_waiting_decisions_total)"
    assert _max_over_window(stack, waiting, queue="research", reason="OverQuota") >= 1
    # The pools: both DDP jobs' 16 H100s at once; six quarter-T4 shares leave a T4 partly held, whose unused
    # shares no whole-T4 request can use.
    allocated = "sum by (pool, resource) (motherboard_operator_devicepool_allocated)"
    assert _max_over_window(stack, allocated, pool="h100-central", resource="nvidia.com/gpu") >= 16
    fragmentation = "max by (pool) (motherboard_operator_devicepool_fragmentation_ratio)"
    assert _max_over_window(stack, fragmentation, pool="t4-edge-shared") > 0
    # Every job succeeded; the device turned unhealthy is counted; the runtime batched.
    assert _max_over_window(stack, 'sum(motherboard_operator_jobs{phase="Failed"}) or vector(0)') == 0
    assert _max_over_window(stack, 'sum(motherboard_deviceplugin_devices{state="Unhealthy"})') == 1
    batch = "histogram_quantile(0.99, sum by (le) (rate(motherboard_runtime_batch_size_bucket[12s])))"
    assert _max_over_window(stack, batch) > 1
    rate = f"sum(rate(nv_inference_request_success{{model={SERVING!r}}}[12s]))".replace("'", '"')
    assert _max_over_window(stack, rate) > 5
