"""A real node: the pinned kubelet with containerd and runc, on the local control plane.

The module brings up its own cluster (no kwok nodes, one real node in an edge site) rather than using the
session's kwok-only one: a real node changes the host (an address on ``lo``, a bridge, iptables, cgroups,
the kubelet's fixed device-plugin directory), so only one runs per machine. A lock file serialises test
sessions; a developer's running real node makes the fixture fail with the command that stops it.

What runs on the node is real: pods start in runc, their logs come back through the API server from the
kubelet, a pod on the bridge calls the API server through the ``kubernetes`` Service, kube-proxy balances
a Service's ClusterIP and NodePort over its ready pods (from the host and from a pod), and the simulated
device plugin runs as its DaemonSet (``device-plugins/``, applied unchanged) from an image built here
without a registry, registers with the kubelet and serves the Allocate calls that give pods the devices
Motherboard's scheduler assigned.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from motherboard.api.assignment import DeviceAssignment
from motherboard.devcluster import images, realnode
from motherboard.devcluster.build import ensure_binaries
from motherboard.devcluster.cluster import DevCluster
from motherboard.devcluster.fakenodes import api_client
from motherboard.devcluster.profile import ClusterProfile
from tests.conftest import wait_for_default_service_account
from tests.integration.test_operator import wait_for
from tests.integration.test_scheduler import SchedulerProcess

REPO = Path(__file__).resolve().parents[2]
NODE = realnode.node_name(0)
# The module fixture runs inside the first test's timeout. On a fresh machine it builds the kubelet (~70 s),
# kube-proxy (~25 s once the kubelet's packages are in Go's build cache) and three images (up to ~5 min on two
# loaded cores) before the cluster starts; warm, the module takes ~1 min.
pytestmark = pytest.mark.timeout(1500)
PROFILE = ClusterProfile.model_validate(
    {
        "kind": "ClusterProfile",
        "name": "real-node-tests",
        "sites": [
            {"name": "central", "kind": "central", "region": "r1",
             "nodeGroups": [{"name": "cpu", "count": 0, "cpu": 8, "memoryGiB": 32}]},
            {"name": "edge-east", "kind": "edge", "region": "r2",
             "nodeGroups": [{"name": "cpu", "count": 0, "cpu": 8, "memoryGiB": 32}]},
        ],
        "realNodes": {"count": 1, "site": "edge-east", "labels": {"team": "platform"}},
    }
)  # fmt: skip
EDGE_TOLERATION = {"key": "motherboard.io/edge", "operator": "Exists", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
PLUGIN_NS = "motherboard-system"
PLUGIN_LABELS = "app.kubernetes.io/name=motherboard-device-plugin,app.kubernetes.io/component=simulated"
GPU_RESOURCES = (
    "nvidia.com/gpu",
    "nvidia.com/gpu.shared",
    "nvidia.com/mig-1g.10gb",
    "nvidia.com/mig-2g.20gb",
    "nvidia.com/mig-3g.40gb",
)


def _log(message: str) -> None:
    print(f"[real-node] {message}", file=sys.__stderr__, flush=True)


@dataclass
class RealCluster:
    dev: DevCluster
    api: client.ApiClient
    kubectl_bin: Path
    helm_bin: Path
    seconds: dict[str, float]

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(self.kubectl_bin), f"--kubeconfig={self.dev.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def allocatable(self) -> dict[str, str]:
        node = self.core.read_node(NODE)
        return {k: v for k, v in (node.status.allocatable or {}).items() if k in GPU_RESOURCES}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    """One cluster with one real node for the module, under a machine-wide lock for test sessions."""
    realnode.HOST_DIR.mkdir(parents=True, exist_ok=True)
    with (realnode.HOST_DIR / "real-node-tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session's real node: wait for it to finish
        bins = ensure_binaries(_log, real_nodes=True)
        dev = DevCluster(tmp_path_factory.mktemp("real-node-cluster"))
        started = time.monotonic()
        # kube-scheduler places plain pods; Motherboard's scheduler is started by the test that needs it.
        result = dev.up(PROFILE, kube_scheduler=True, progress=_log, bins=bins)
        _log(f"cluster with a real node up in {time.monotonic() - started:.1f}s: {result.seconds}")
        try:
            # The device plugin's image (the project's own), imported like the node's base images.
            images.import_image(images.project_image(_log), realnode.ctr(), _log)
            api = api_client(dev.kubeconfig)
            try:
                yield RealCluster(dev, api, bins.kubectl, bins.helm, result.seconds)
            finally:
                api.close()
        finally:
            dev.down(progress=_log)
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def ns(real: RealCluster) -> Iterator[str]:
    name = f"rn-{uuid.uuid4().hex[:6]}"
    real.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for_default_service_account(real.api, name)
    yield name
    real.core.delete_namespace(name)


def python_pod(name: str, code: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": images.PYTHON_REF,
        "imagePullPolicy": "Never",  # built here; there is no registry to pull from
        "command": ["python3", "-c", code],
    }
    if "limits" in spec:
        container["resources"] = {"limits": spec.pop("limits")}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": spec.pop("annotations", {})},
        "spec": {
            "restartPolicy": "Never",
            "tolerations": [EDGE_TOLERATION, GPU_TOLERATION],
            "containers": [container],
            **spec,
        },
    }


def finished(real: RealCluster, ns: str, name: str, timeout: float = 90) -> client.V1Pod:
    def done() -> client.V1Pod | None:
        pod = real.core.read_namespaced_pod(name, ns)
        return pod if pod.status.phase in {"Succeeded", "Failed"} else None

    pod: client.V1Pod = wait_for(f"pod {name} to finish", done, timeout=timeout)
    logs = real.core.read_namespaced_pod_log(name, ns)
    assert pod.status.phase == "Succeeded", (pod.status, logs)
    return pod


def test_the_real_node_joins_with_its_own_identity_site_and_labels(real: RealCluster) -> None:
    node = real.core.read_node(NODE)
    labels = node.metadata.labels
    assert labels["motherboard.io/site"] == "edge-east" and labels["topology.kubernetes.io/region"] == "r2"
    assert labels["team"] == "platform" and labels["motherboard.io/real-node"] == "true"
    assert [(t.key, t.effect) for t in node.spec.taints or []] == [("motherboard.io/edge", "NoSchedule")]
    assert node.status.node_info.kubelet_version == "v1.35.4"
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    addresses = {a.type: a.address for a in node.status.addresses}
    assert addresses["InternalIP"] == realnode.NODE_IP
    # The kubelet holds its node's lease as system:node:<name> (the Node authorizer's identity).
    leases = client.CoordinationV1Api(real.api)
    lease = wait_for(
        "the node's lease",
        lambda: next(
            (x for x in leases.list_namespaced_lease("kube-node-lease").items if x.metadata.name == NODE),
            None,
        ),
        timeout=30,
    )
    assert lease.spec.holder_identity == NODE


def test_a_pod_runs_in_runc_and_its_logs_are_read(real: RealCluster, ns: str) -> None:
    code = "import os; print('hello from a real pod', os.getpid(), open('/proc/1/cgroup').read().count('kubepods') > 0)"
    started = time.monotonic()
    real.core.create_namespaced_pod(ns, python_pod("hello", code, hostNetwork=True))
    pod = finished(real, ns, "hello")
    _log(f"host-network pod created → Succeeded in {time.monotonic() - started:.1f}s")
    assert pod.spec.node_name == NODE  # placed by kube-scheduler: the real node is the only node
    logs = real.core.read_namespaced_pod_log("hello", ns)  # API server → kubelet (InternalIP, client cert)
    assert logs.startswith("hello from a real pod") and logs.strip().endswith("True"), logs


def test_a_pod_on_the_bridge_reaches_the_api_server_through_the_kubernetes_service(
    real: RealCluster, ns: str
) -> None:
    code = """
import json, os, socket, ssl, urllib.request
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
request = urllib.request.Request(
    f"https://{host}:{port}/version", headers={"Authorization": "Bearer " + open(sa + "/token").read()})
with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=sa + "/ca.crt"), timeout=10) as r:
    version = json.load(r)["gitVersion"]
print(json.dumps({"host": host, "port": port, "version": version, "ip": os.environ["POD_IP"]}))
"""
    for name, host_network in (("api-caller", False), ("api-caller-host", True)):
        pod = python_pod(name, code, hostNetwork=host_network)
        pod["spec"]["containers"][0]["env"] = [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        ]
        real.core.create_namespaced_pod(ns, pod)
    for name, host_network in (("api-caller", False), ("api-caller-host", True)):
        finished(real, ns, name)
        seen = json.loads(real.core.read_namespaced_pod_log(name, ns).strip().splitlines()[-1])
        assert seen["host"] == "10.96.0.1" and seen["port"] == "443"  # the in-cluster Service, verified TLS
        assert seen["version"] == "v1.35.4"
        on_bridge = ipaddress.ip_address(seen["ip"]) in ipaddress.ip_network(realnode.POD_SUBNET)
        assert on_bridge is not host_network, seen  # a bridge pod, and a host-network one (node IP)


WEB_PORT = 8080
WEB_SERVER = (
    # Serves its own pod name at / and, once the file exists, /ready (the readiness probe's path).
    f'mkdir -p /tmp/www && printf %s "$HOSTNAME" > /tmp/www/index.html && '
    f'if [ "$READY" = yes ]; then touch /tmp/www/ready; fi && '
    f"exec python3 -m http.server {WEB_PORT} --directory /tmp/www"
)


def web_pod(name: str, ready: bool) -> dict[str, Any]:
    container = {
        "name": "web",
        "image": images.PYTHON_REF,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", WEB_SERVER],
        "env": [{"name": "READY", "value": "yes" if ready else "no"}],
        "ports": [{"containerPort": WEB_PORT}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": WEB_PORT}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"tolerations": [EDGE_TOLERATION], "containers": [container]},
    }


def get_text(url: str, timeout: float = 3) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


def answers(url: str, n: int) -> collections.Counter[str]:
    return collections.Counter(get_text(url) for _ in range(n))


def test_a_service_balances_over_ready_pods_only_from_the_host_and_from_a_pod(
    real: RealCluster, ns: str
) -> None:
    """kube-proxy implements the ClusterIP and the NodePort: the host and a pod on the bridge reach the
    Service, every ready pod answers, the not-ready one never does until its readiness probe passes."""
    pods = {"web-0": True, "web-1": True, "web-2": False}
    for name, ready in pods.items():
        real.core.create_namespaced_pod(ns, web_pod(name, ready))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        # NodePort: a ClusterIP Service that also listens on the node IP.
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": WEB_PORT}],
        },
    }
    svc = real.core.create_namespaced_service(ns, service)
    cluster_ip, node_port = svc.spec.cluster_ip, svc.spec.ports[0].node_port
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network("10.96.0.0/12")
    discovery = client.DiscoveryV1Api(real.api)

    def endpoints() -> dict[str, bool] | None:
        slices = discovery.list_namespaced_endpoint_slice(ns, label_selector="kubernetes.io/service-name=web")
        found = {
            e.target_ref.name: bool(e.conditions.ready) for s in slices.items for e in (s.endpoints or [])
        }
        return found if found == pods else None

    wait_for("the EndpointSlice with 2 ready and 1 not-ready pod", endpoints, timeout=90)
    ready = {name for name, ok in pods.items() if ok}
    url = f"http://{cluster_ip}/"

    seen: collections.Counter[str] = collections.Counter()  # every answer the host got, waiting included

    def both_ready_pods_answer() -> bool:
        # kube-proxy programs the endpoints it has seen, a sync (>= 1 s apart) behind the EndpointSlice.
        with contextlib.suppress(OSError):
            seen.update(answers(url, 10))
        return set(seen) >= ready

    started = time.monotonic()
    wait_for(
        "both ready pods to answer through the ClusterIP from the host", both_ready_pods_answer, timeout=30
    )
    _log(f"ClusterIP {cluster_ip} balanced over both ready pods {time.monotonic() - started:.1f}s later")
    from_host = answers(url, 60)
    assert set(from_host) == ready, from_host  # both ready pods (2^-59 odds otherwise)
    assert "web-2" not in seen, seen  # the not-ready pod: never, not even before the first full sync
    from_node_port = answers(f"http://{realnode.NODE_IP}:{node_port}/", 20)
    assert set(from_node_port) <= ready and sum(from_node_port.values()) == 20, from_node_port

    # A pod on the bridge, through the Service's environment variables (the cluster runs no DNS).
    code = """
import collections, json, os, urllib.request
url = f"http://{os.environ['WEB_SERVICE_HOST']}:{os.environ['WEB_SERVICE_PORT']}/"
print(json.dumps(collections.Counter(urllib.request.urlopen(url, timeout=5).read().decode() for _ in range(40))))
"""
    real.core.create_namespaced_pod(ns, python_pod("client", code))
    finished(real, ns, "client")
    from_pod = json.loads(real.core.read_namespaced_pod_log("client", ns).strip().splitlines()[-1])
    assert set(from_pod) == ready and sum(from_pod.values()) == 40, from_pod

    # Readiness, not anything else, kept web-2 out: once its probe passes it gets its share.
    real.kubectl("-n", ns, "exec", "web-2", "--", "touch", "/tmp/www/ready")
    pods["web-2"] = True
    wait_for("web-2 to become a ready endpoint", endpoints, timeout=60)
    wait_for("web-2 to answer through the ClusterIP", lambda: "web-2" in answers(url, 10) or None, timeout=30)
    _log(f"ClusterIP answers: host {dict(from_host)}, NodePort {dict(from_node_port)}, pod {from_pod}")


@pytest.fixture(scope="module")
def device_plugin(real: RealCluster) -> dict[str, str]:
    """The simulated plugin's DaemonSet, applied as shipped; returns the node's allocatable once it shows."""
    started = time.monotonic()
    real.kubectl("apply", "-f", str(REPO / "device-plugins" / "rbac.yaml"))
    real.kubectl("apply", "-f", str(REPO / "device-plugins" / "simulated" / "daemonset.yaml"))
    allocatable = wait_for(
        "the plugin's resources on the node",
        lambda: (a := real.allocatable()) and all(a.get(r, "0") != "0" for r in GPU_RESOURCES) and a,
        timeout=120,
    )
    real.seconds["daemonset-to-allocatable"] = time.monotonic() - started
    _log(f"DaemonSet applied → allocatable {allocatable} in {real.seconds['daemonset-to-allocatable']:.1f}s")
    return dict(allocatable)


def plugin_registrations(real: RealCluster) -> int:
    """How often the plugin has registered a resource; -1 while the kubelet (which serves logs) is away."""
    pod = real.core.list_namespaced_pod(PLUGIN_NS, label_selector=PLUGIN_LABELS).items[0]
    try:
        logs = real.core.read_namespaced_pod_log(pod.metadata.name, PLUGIN_NS)
    except ApiException:
        return -1
    return logs.count("with the kubelet at /var/lib/kubelet/device-plugins/kubelet.sock")


def test_the_device_plugin_daemonset_registers_with_the_real_kubelet(
    real: RealCluster, device_plugin: dict[str, str]
) -> None:
    assert device_plugin == {
        "nvidia.com/gpu": "1",  # the un-partitioned A100 of device-plugins/simulated/daemonset.yaml
        "nvidia.com/gpu.shared": "20",  # 2 T4 x 10 replicas
        "nvidia.com/mig-1g.10gb": "1",
        "nvidia.com/mig-2g.20gb": "1",
        "nvidia.com/mig-3g.40gb": "1",
    }
    pod = real.core.list_namespaced_pod(PLUGIN_NS, label_selector=PLUGIN_LABELS).items[0]
    assert pod.spec.node_name == NODE and not pod.spec.host_network  # on the bridge, API via the Service
    assert plugin_registrations(real) == len(GPU_RESOURCES)
    inventory = json.loads(real.core.read_node(NODE).metadata.annotations["motherboard.io/device-inventory"])
    assert len(inventory["devices"]) == 4


ENV_DUMP = (
    "import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
    "if k.startswith(('NVIDIA_', 'CUDA_', 'MOTHERBOARD_'))}))"
)


def test_pods_start_with_exactly_the_devices_the_scheduler_assigned(
    real: RealCluster, device_plugin: dict[str, str], ns: str, tmp_path: Path
) -> None:
    real.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    real.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    scheduler = SchedulerProcess(real.dev.kubeconfig, tmp_path / "scheduler.log", "--no-leader-elect").start()
    try:
        wait_for("scheduler ready", lambda: "ok" in scheduler.probe(), timeout=60)
        share = {
            "vendor": "nvidia",
            "model": "T4",
            "sharing": {"mode": "Fraction", "fraction": 0.25, "memory": "4Gi"},
        }
        wanted = {
            "whole": ("nvidia.com/gpu", {}),
            "mig": ("nvidia.com/mig-1g.10gb", {}),
            "share": ("nvidia.com/gpu.shared", {"motherboard.io/device-request": json.dumps(share)}),
        }
        for name, (resource, annotations) in wanted.items():
            real.core.create_namespaced_pod(
                ns,
                python_pod(
                    name, ENV_DUMP, limits={resource: "1"}, annotations=annotations,
                    schedulerName="motherboard-scheduler",
                ),
            )  # fmt: skip
        for name, (resource, _) in wanted.items():
            pod = finished(real, ns, name, timeout=120)
            assignment = DeviceAssignment.from_pod_annotations(pod.metadata.annotations)
            assert assignment is not None and assignment.node == NODE == pod.spec.node_name
            (entry,) = assignment.containers
            assert entry.resource == resource
            (device,) = entry.devices
            env = json.loads(real.core.read_namespaced_pod_log(name, ns).strip().splitlines()[-1])
            # What the container sees is what the scheduler wrote, from the plugin's real Allocate.
            assert env["NVIDIA_VISIBLE_DEVICES"] == device.id, (name, env, assignment)
            if name == "mig":
                assert device.id.startswith("MIG-") and device.parent is not None
            if name == "share":
                assert device.milli == 250 and device.memory_mib == 4096
                assert env["MOTHERBOARD_DEVICE_MILLI"] == "250"
                assert env["MOTHERBOARD_DEVICE_MEMORY_LIMIT_MIB"] == "4096"
                assert env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "25"
    finally:
        scheduler.stop()


def test_a_pod_whose_assignment_the_kubelet_cannot_honour_is_refused(
    real: RealCluster, device_plugin: dict[str, str], ns: str
) -> None:
    """Bound (by hand, as a broken scheduler would) to the MIG-partitioned A100 as a whole GPU: the kubelet
    can only offer the other GPU, and the plugin refuses that Allocate instead of handing out another device."""
    inventory = json.loads(real.core.read_node(NODE).metadata.annotations["motherboard.io/device-inventory"])
    partitioned = next(d["id"] for d in inventory["devices"] if d.get("partitions"))
    assignment = {
        "v": 1,
        "node": NODE,
        "containers": [{"name": "main", "resource": "nvidia.com/gpu", "devices": [{"id": partitioned}]}],
    }
    pod = python_pod(
        "refused", "print('must not run')", limits={"nvidia.com/gpu": "1"}, nodeName=NODE,
        annotations={"motherboard.io/device-assignment": json.dumps(assignment)},
    )  # fmt: skip
    real.core.create_namespaced_pod(ns, pod)

    def failed() -> client.V1Pod | None:
        got = real.core.read_namespaced_pod("refused", ns)
        return got if got.status.phase == "Failed" else None

    refused = wait_for("the kubelet to fail the pod's admission", failed, timeout=60)
    assert refused.status.reason == "UnexpectedAdmissionError", refused.status
    assert "contradicts the scheduler's device assignment" in refused.status.message
    assert not refused.status.container_statuses or not refused.status.container_statuses[0].state.terminated


CHART_VALUES = """
operator:
  replicas: 1
  # kopf writes the webhook's URL as https://<service>.<namespace>.svc: nothing here resolves such names.
  webhook: {enabled: false}
  nodeSelector: {motherboard.io/real-node: "true"}
  tolerations: [{operator: Exists}]
scheduler:
  replicas: 1
  nodeSelector: {motherboard.io/real-node: "true"}
  tolerations: [{operator: Exists}]
"""


def test_the_charts_operator_and_scheduler_run_as_pods_on_the_real_node(
    real: RealCluster, device_plugin: dict[str, str], ns: str, tmp_path: Path
) -> None:
    """`helm install` of charts/motherboard with the project image: both become Ready in real containers
    (non-root, read-only root filesystem, probes), and the in-pod scheduler binds a pod that then runs."""
    values = tmp_path / "values.yaml"
    values.write_text(CHART_VALUES)
    release, namespace = "mb", f"mb-chart-{uuid.uuid4().hex[:6]}"
    helm = [str(real.helm_bin), f"--kubeconfig={real.dev.kubeconfig}"]
    real.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    installed = subprocess.run(
        [*helm, "install", release, str(REPO / "charts" / "motherboard"), "--namespace", namespace,
         "--create-namespace", "--values", str(values), "--wait", "--timeout", "240s"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    try:
        assert installed.returncode == 0, installed.stderr + installed.stdout
        pods = real.core.list_namespaced_pod(namespace).items
        assert sorted(p.metadata.labels["app.kubernetes.io/component"] for p in pods) == [
            "operator",
            "scheduler",
        ]
        for pod in pods:
            assert pod.spec.node_name == NODE and pod.status.phase == "Running", pod.status
            assert all(c.ready for c in pod.status.container_statuses), pod.status.container_statuses
        real.core.create_namespaced_pod(
            ns, python_pod("by-the-charts-scheduler", "print('placed by a scheduler pod')",
                           schedulerName="motherboard-scheduler"),
        )  # fmt: skip
        pod = finished(real, ns, "by-the-charts-scheduler", timeout=120)
        assert pod.spec.node_name == NODE
        assert real.core.read_namespaced_pod_log(pod.metadata.name, ns).strip() == "placed by a scheduler pod"
    finally:
        subprocess.run(
            [*helm, "uninstall", release, "--namespace", namespace, "--wait"], check=False, timeout=120
        )
        real.core.delete_namespace(namespace)


def test_a_kubelet_restart_makes_the_plugin_register_again_and_allocatable_recover(
    real: RealCluster, device_plugin: dict[str, str]
) -> None:
    before = plugin_registrations(real)
    started = time.monotonic()
    real.dev.restart_kubelet(progress=_log)
    # The restarted kubelet deletes the plugins' sockets; the plugin notices and registers each again.
    wait_for(
        "the plugin to register again", lambda: plugin_registrations(real) >= before + len(GPU_RESOURCES), 60
    )
    registered = time.monotonic() - started
    wait_for("allocatable to recover", lambda: real.allocatable() == device_plugin, timeout=90)
    recovered = time.monotonic() - started
    _log(f"kubelet restart → plugin registered in {registered:.1f}s, allocatable back in {recovered:.1f}s")
    real.dev.wait_node_ready(NODE, timeout_s=60)


def test_down_after_a_crash_leaves_nothing_on_the_host(real: RealCluster) -> None:
    """Last in the module: SIGKILL containerd and the kubelet (shims and pods stay), then `down`."""
    state = real.dev.load_state()
    assert state is not None
    for name in ("kube-proxy", "kubelet", "containerd"):
        os.kill(state.processes[name].pid, signal.SIGKILL)
    assert realnode.HostRecord.load() is not None
    real.dev.down(progress=_log)
    mountinfo = Path("/proc/self/mountinfo").read_text()
    for path in (str(real.dev.dir), "/var/lib/kubelet", "/run/containerd", "/run/motherboard/containerd"):
        assert f" {path}" not in mountinfo, path
    lo = subprocess.run(["ip", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True)
    assert realnode.NODE_IP not in lo.stdout
    assert (
        subprocess.run(["ip", "link", "show", realnode.BRIDGE], capture_output=True, check=False).returncode
        != 0
    )
    for save in ("iptables-save", "ip6tables-save"):  # the kubelet's and kube-proxy's chains, our DNAT
        rules = subprocess.run([save], capture_output=True, text=True, check=True).stdout
        assert "KUBE-" not in rules and realnode.IPTABLES_COMMENT not in rules, save
    assert not any(Path("/sys/fs/cgroup").glob("*/kubepods")) and not Path("/sys/fs/cgroup/kubepods").exists()
    assert not Path("/var/lib/kubelet").exists() and realnode.HostRecord.load() is None
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_ours(p)]
    assert leftovers == []


def _is_ours(proc: Path) -> bool:
    try:
        argv = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return (
        b"containerd-shim" in argv
        or (b"kubelet" in argv and b"real-node" in argv)
        or (b"kube-proxy" in argv and b"--hostname-override=" + NODE.encode() in argv)
    )
