"""The Helm chart on the local control plane: `helm install` succeeds and every Deployment and DaemonSet
becomes Ready on kwok nodes; each component's ServiceAccount may do what it needs and is denied the rest; the
real operator and scheduler, run with the chart's own ServiceAccount tokens, complete an AIJob (so the RBAC
is sufficient), and their live `/metrics` carry every metric the dashboards query.

kwok runs no containers: it marks scheduled pods Running and Ready, so readiness here proves that the
objects are valid, admitted, and that nodeSelectors and tolerations fit the demo profile's nodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from motherboard.dashboards import DASHBOARDS, dashboard_metric_names, exposed_metric_names
from motherboard.demo.components import Component, free_port
from motherboard.devcluster.cluster import CONTROLLERS
from tests.conftest import Cluster, wait_for_default_service_account
from tests.integration.test_operator import make_job, wait_for, webhook_serving

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "motherboard"
GROUP = "motherboard.io"


@dataclass
class Release:
    name: str
    namespace: str
    cluster: Cluster

    @property
    def fullname(self) -> str:
        return (
            self.name
        )  # the release name contains "motherboard", so objects are named <release>-<component>

    def service_account(self, component: str) -> str:
        return f"{self.fullname}-{component}"

    def helm(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.cluster.binaries.helm), f"--kubeconfig={self.cluster.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def get(self, kind: str) -> list[dict[str, Any]]:
        listed = self.cluster.kubectl("get", kind, "-n", self.namespace, "-o", "json")
        return list(json.loads(listed.stdout)["items"])


@pytest.fixture(scope="module")
def workload_controllers(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What a real cluster has and the dev cluster leaves out (it runs only what Motherboard's own tests
    need): the DaemonSet controller and the default kube-scheduler, which place the chart's own pods. Run
    beside the control plane for this module only, so no other test sees them."""
    logs = tmp_path_factory.mktemp("workload-controllers")
    state = cluster.dev.load_state()
    argv: dict[str, list[str]] = {}
    if "daemonset-controller" not in CONTROLLERS:
        argv["daemonset-controller"] = [
            str(cluster.binaries.kube_controller_manager), "--controllers=daemonset-controller",
        ]  # fmt: skip
    if state is None or "kube-scheduler" not in state.processes:
        argv["kube-scheduler"] = [str(cluster.binaries.kube_scheduler)]
    procs = []
    for name, command in argv.items():
        with (logs / f"{name}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [
                        *command,
                        f"--kubeconfig={cluster.kubeconfig}",
                        "--leader-elect=false",
                        "--secure-port=0",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def release(cluster: Cluster, workload_controllers: None) -> Iterator[Release]:
    rel = Release(f"motherboard-{uuid.uuid4().hex[:6]}", f"mb-chart-{uuid.uuid4().hex[:6]}", cluster)
    installed = rel.helm(
        "install", rel.name, str(CHART), "--namespace", rel.namespace, "--create-namespace",
        "--values", str(CHART / "ci" / "kwok-values.yaml"), "--wait", "--timeout", "240s",
    )  # fmt: skip
    try:
        assert installed.returncode == 0, installed.stderr + installed.stdout
        assert "motherboard queue tree" in installed.stdout  # NOTES.txt tells the user what to do next
        yield rel
    finally:
        rel.helm("uninstall", rel.name, "--namespace", rel.namespace, "--wait")
        cluster.kubectl("delete", "namespace", rel.namespace, "--wait=false", check=False)


def test_deployments_and_daemonsets_become_ready_on_kwok_nodes(release: Release) -> None:
    deployments = {d["metadata"]["name"]: d for d in release.get("deployments")}
    assert set(deployments) == {f"{release.name}-operator", f"{release.name}-scheduler"}
    for name, deployment in deployments.items():
        assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"] >= 1, name
    daemonsets = {d["metadata"]["name"].rsplit("-", 1)[-1]: d for d in release.get("daemonsets")}
    assert set(daemonsets) == {"nvidia", "ascend", "simulated"}
    nodes = json.loads(release.cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in nodes}
    expected = {
        "nvidia": {
            n for n, lab in labels.items() if lab.get("motherboard.io/accelerator-vendor") == "nvidia"
        },
        "ascend": {
            n for n, lab in labels.items() if lab.get("motherboard.io/accelerator-vendor") == "huawei"
        },
        "simulated": {
            n for n, lab in labels.items() if lab.get("node.kubernetes.io/instance-type") == "cpu-64"
        },
    }
    pods = release.get("pods")
    for backend, daemonset in daemonsets.items():
        status = daemonset["status"]
        assert status["desiredNumberScheduled"] == len(expected[backend]) > 0, backend
        assert status.get("numberReady") == status["desiredNumberScheduled"], (backend, status)
        mine = [
            p
            for p in pods
            if p["metadata"]["labels"].get("app.kubernetes.io/component") == f"device-plugin-{backend}"
        ]
        # GPU, NPU and edge taints are tolerated, and each plugin lands exactly on its vendor's nodes.
        assert {p["spec"]["nodeName"] for p in mine} == expected[backend]


ALLOWED, DENIED = "yes", "no"
# (component, verb, resource, in the release namespace?, expected)
PERMISSIONS = [
    ("scheduler", "create", "pods/binding", False, ALLOWED),
    ("scheduler", "patch", "pods/status", False, ALLOWED),
    ("scheduler", "create", "pods/eviction", False, ALLOWED),
    ("scheduler", "delete", "pods", False, ALLOWED),
    ("scheduler", "create", "events", False, ALLOWED),
    ("scheduler", "watch", "nodes", False, ALLOWED),
    ("scheduler", "list", "queues.motherboard.io", False, ALLOWED),
    ("scheduler", "watch", "devicepools.motherboard.io", False, ALLOWED),
    ("scheduler", "create", "leases.coordination.k8s.io", True, ALLOWED),
    ("scheduler", "get", "secrets", False, DENIED),
    ("scheduler", "list", "secrets", True, DENIED),
    ("scheduler", "create", "pods", False, DENIED),
    ("scheduler", "patch", "nodes", False, DENIED),
    ("scheduler", "patch", "aijobs.motherboard.io/status", False, DENIED),
    ("scheduler", "create", "leases.coordination.k8s.io", False, DENIED),  # only in its own namespace
    ("operator", "create", "pods", False, ALLOWED),
    ("operator", "patch", "aijobs.motherboard.io/status", False, ALLOWED),
    ("operator", "patch", "queues.motherboard.io/status", False, ALLOWED),
    ("operator", "create", "validatingwebhookconfigurations.admissionregistration.k8s.io", False, ALLOWED),
    ("operator", "get", "secrets", False, DENIED),
    ("operator", "create", "pods/binding", False, DENIED),
    ("operator", "get", "pods/log", False, ALLOWED),  # a model replica's fetch report
    ("operator", "create", "pods/exec", False, DENIED),
    ("operator", "update", "queues.motherboard.io", False, DENIED),
    ("operator", "delete", "validatingwebhookconfigurations.admissionregistration.k8s.io", False, DENIED),
    ("device-plugin", "list", "pods", False, ALLOWED),
    ("device-plugin", "patch", "nodes", False, ALLOWED),
    ("device-plugin", "get", "secrets", False, DENIED),
    ("device-plugin", "delete", "pods", False, DENIED),
    ("device-plugin", "delete", "nodes", False, DENIED),
]


@pytest.mark.parametrize(
    ("component", "verb", "resource", "own_namespace", "expected"),
    PERMISSIONS,
    ids=[f"{c}-{v}-{r.split('.')[0]}-{e}" + ("-own-ns" if o else "") for c, v, r, o, e in PERMISSIONS],
)
def test_service_accounts_get_what_they_need_and_nothing_more(
    release: Release, component: str, verb: str, resource: str, own_namespace: bool, expected: str
) -> None:
    namespace = release.namespace if own_namespace else "default"
    subject = f"system:serviceaccount:{release.namespace}:{release.service_account(component)}"
    # kubectl reads "pods/binding" as a pod named binding: subresources go in their own flag.
    kind, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    answer = release.cluster.kubectl(
        "auth", "can-i", verb, kind, *extra, f"--as={subject}", "-n", namespace, check=False
    )
    assert answer.stdout.strip() == expected, answer.stderr


def token_kubeconfig(release: Release, component: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount of ``component`` (a bound token)."""
    token = release.cluster.kubectl(
        "create", "token", release.service_account(component), "-n", release.namespace, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(release.cluster.kubeconfig.read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dev", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": component, "user": {"token": token}}],
        "contexts": [{"name": component, "context": {"cluster": "dev", "user": component}}],
        "current-context": component,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def components(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Component]]:
    """The real operator (with its webhook) and scheduler (with leader election) as the chart's accounts."""
    logs = tmp_path_factory.mktemp("chart-components")
    operator_ports = {"metrics": free_port(), "health": free_port(), "webhook": free_port()}
    scheduler_ports = {"metrics": free_port(), "health": free_port()}
    operator_kubeconfig = token_kubeconfig(release, "operator", logs / "op.kubeconfig")
    # Through $KUBECONFIG rather than --kubeconfig: the operator's own login handler does not read a token
    # from an explicit kubeconfig yet (kubernetes >= 36 keeps it under api_key["BearerToken"]), while kopf's
    # default login, used without --kubeconfig, does.
    operator_argv = [
        "operator", "run", f"--metrics-port={operator_ports['metrics']}",
        f"--health-port={operator_ports['health']}", f"--webhook-port={operator_ports['webhook']}",
        "--leader-elect", f"--lease-namespace={release.namespace}",
    ]  # fmt: skip
    scheduler_argv = [
        "scheduler", "run", f"--kubeconfig={token_kubeconfig(release, 'scheduler', logs / 'sch.kubeconfig')}",
        f"--metrics-port={scheduler_ports['metrics']}", f"--health-port={scheduler_ports['health']}",
        "--leader-elect", f"--lease-namespace={release.namespace}",
    ]  # fmt: skip
    parts = {
        "operator": Component("operator", operator_argv, logs / "operator.log", operator_ports),
        "scheduler": Component("scheduler", scheduler_argv, logs / "scheduler.log", scheduler_ports),
    }
    with mock.patch.dict(os.environ, {"KUBECONFIG": str(operator_kubeconfig)}):
        parts["operator"].start()  # the child copies the environment when it starts
    parts["scheduler"].start()
    try:
        # The webhook answering proves the operator could create and patch its webhook configurations.
        wait_for("the operator's webhook", lambda: webhook_serving(release.cluster), timeout=90)
        yield parts
    finally:
        for part in parts.values():
            part.stop()
            print(f"--- {part.name} ---\n{part.tail(30)}")
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            release.cluster.kubectl("delete", kind, GROUP, "--ignore-not-found", check=False)


def test_operator_and_scheduler_with_the_charts_tokens_complete_an_aijob(
    release: Release, components: dict[str, Component]
) -> None:
    cluster = release.cluster
    namespace = f"chart-e2e-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        wait_for_default_service_account(cluster.api, namespace)
        job = make_job("rbac-proof", replicas=2, duration="2s")
        job["spec"]["tasks"][0]["template"]["spec"]["schedulerName"] = "motherboard-scheduler"
        cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(job))

        def phase() -> str:
            got = cluster.kubectl("get", "aijob", "rbac-proof", "-n", namespace, "-o", "json", check=False)
            return (
                str((json.loads(got.stdout or "{}").get("status") or {}).get("phase"))
                if got.returncode == 0
                else ""
            )

        wait_for("the AIJob to succeed", lambda: phase() == "Succeeded", timeout=120)
        lease = json.loads(
            cluster.kubectl(
                "get", "lease", "motherboard-scheduler", "-n", release.namespace, "-o", "json"
            ).stdout
        )
        assert lease["spec"]["holderIdentity"]  # the scheduler led through its namespaced Role
        for part in components.values():
            assert part.alive(), part.tail()
            log = part.log.read_text(errors="replace")
            assert "Forbidden" not in log and " 403 " not in log, (
                f"{part.name} was refused something:\n{part.tail(40)}"
            )
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def test_live_metrics_carry_every_metric_the_dashboards_query(components: dict[str, Component]) -> None:
    exposed = {name: exposed_metric_names(scrape(part.ports["metrics"])) for name, part in components.items()}
    assert "motherboard_scheduler_leader" in exposed["scheduler"]
    assert "motherboard_operator_jobs" in exposed["operator"]
    wanted = {
        name
        for dashboard in DASHBOARDS.values()
        for names in dashboard_metric_names(dashboard).values()
        for name in names
    }
    # Device plugin metrics are checked against its registry in the unit tests: its process needs a kubelet.
    # The model runtime's (the Inference dashboard) against a live runtime in test_prometheus.py.
    elsewhere = ("motherboard_deviceplugin_", "motherboard_runtime_", "nv_inference_")
    served = exposed["operator"] | exposed["scheduler"]
    missing = {n for n in wanted if not n.startswith(elsewhere) and n not in served}
    assert missing == set()
    # process_* come from every component; check they are the scheduler's own, as the panels filter on it.
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= exposed["scheduler"]
