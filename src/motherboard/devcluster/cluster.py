"""Bring the dev control plane up and down: etcd, kube-apiserver, kube-controller-manager and kwok.

Everything listens on 127.0.0.1 on ports picked at start, so several clusters (a developer's demo and a
test run) can coexist. The state directory holds the PKI, kubeconfigs, etcd data, logs and ``state.json``,
which records every daemon's PID so ``down`` works even after the process that ran ``up`` died.

With real nodes (:mod:`motherboard.devcluster.realnode`) it also runs containerd and a kubelet; those
change the host, so only one such cluster runs per machine.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from motherboard.api.constants import LABEL_REGION, LABEL_SITE, LABEL_SITE_KIND, LABEL_ZONE
from motherboard.devcluster import images as imagesmod
from motherboard.devcluster import peers as peersmod
from motherboard.devcluster import pki as pkimod
from motherboard.devcluster import prometheus as prommod
from motherboard.devcluster import realnode
from motherboard.devcluster.build import Binaries, ensure_binaries
from motherboard.devcluster.health import TLSClient, free_ports, probe, wait_until
from motherboard.devcluster.kubeconfig import write_kubeconfig
from motherboard.devcluster.paths import repo_root, state_dir
from motherboard.devcluster.procs import ProcessRecord, is_alive, spawn, stop
from motherboard.devcluster.profile import MAX_REAL_NODES, TAINT_EDGE, ClusterProfile, SiteKind
from motherboard.devcluster.render import KWOK_NODE_ANNOTATION, KWOK_NODE_VALUE, placements, render_nodes

Progress = Callable[[str], None]

SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.128.0.0/12"
"""kwok's pod-IP pool. Its default /24 runs out after ~254 pods; a /12 covers 1,000 nodes x 110 pods."""
FRONT_PROXY_CLIENT = "front-proxy-client"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"

CONTROLLERS = (
    # The issue's list: ownership, namespaces, service accounts, nodes, workloads...
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "job-controller",
    "deployment-controller",
    "replicaset-controller",
    "daemonset-controller",  # the Helm chart's device-plugin DaemonSets
    # ...and what real operators lean on: Services' endpoints, quotas, PDBs, finished-pod cleanup, the
    # kube-root-ca.crt ConfigMap every pod's token volume projects, and aggregated RBAC roles (admin/edit/
    # view pick up CRD rules through it).
    "statefulset-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "pod-garbage-collector-controller",
    "resourcequota-controller",
    "disruption-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
)

KWOK_OPTIONS = """\
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  # kwok's default of 4 workers per stage lets 1,000 new nodes trickle in at ~25/s.
  nodePlayStageParallelism: 16
  nodeLeaseParallelism: 16
  podPlayStageParallelism: 16
"""

ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "containerd",
    "kubelet",
    "kube-proxy",
    "prometheus",  # stopped first: no scrape errors from a control plane going away
)
LABEL_DEVICE_PLUGIN = "motherboard.io/device-plugin"
"""The device-plugin DaemonSets' node selector (``device-plugins/*/daemonset.yaml``)."""
LABEL_REAL_NODE = "motherboard.io/real-node"
APISERVER_KUBELET_CLIENT = "kube-apiserver-kubelet-client"


class ClusterError(RuntimeError):
    """The dev cluster cannot be started, reused or reached."""


def default_profile() -> Path:
    return repo_root() / "profiles" / "demo.yaml"


@dataclass
class ClusterState:
    """What ``state.json`` records about a started cluster."""

    ports: dict[str, int]
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    profile: str | None = None
    real_nodes: list[str] = field(default_factory=list)
    """Names of the real (kubelet) nodes, empty for a kwok-only cluster."""

    def to_json(self) -> dict[str, Any]:
        return {
            "ports": self.ports,
            "processes": {k: v.to_json() for k, v in self.processes.items()},
            "profile": self.profile,
            "realNodes": self.real_nodes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterState:
        procs = {k: ProcessRecord.from_json(v) for k, v in data.get("processes", {}).items()}
        return cls(
            ports=dict(data["ports"]),
            processes=procs,
            profile=data.get("profile"),
            real_nodes=list(data.get("realNodes", [])),
        )


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str
    rss_mib: float | None


@dataclass(frozen=True)
class UpResult:
    reused: bool
    nodes: int
    """kwok nodes."""
    seconds: dict[str, float]
    rss_mib: dict[str, float]
    real_nodes: tuple[str, ...] = ()


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _quiet(_: str) -> None:
    return None


class DevCluster:
    """One dev cluster, identified by its state directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = (directory or state_dir()).resolve()
        self.pki = pkimod.PKI(self.dir / "pki")

    # --- paths ---------------------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    def _component_kubeconfig(self, name: str) -> Path:
        return self.dir / "kubeconfigs" / f"{name}.kubeconfig"

    @property
    def node_dir(self) -> Path:
        """The real node's files: containerd and kubelet configs, the kubelet's root, CNI state."""
        return self.dir / "real-node"

    # --- state ---------------------------------------------------------------------------------------------
    def load_state(self) -> ClusterState | None:
        try:
            return ClusterState.from_json(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError) as exc:
            raise ClusterError(
                f"{self.state_file} is corrupt ({exc}); remove {self.dir} and try again"
            ) from exc

    def _save(self, state: ClusterState) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.to_json(), indent=2))
        tmp.replace(self.state_file)  # atomic: a crash leaves the old or the new record, never half of one

    # --- health --------------------------------------------------------------------------------------------
    def _health_url(self, name: str, port: int) -> str:
        return {
            "etcd": f"http://127.0.0.1:{port}/health",
            "kube-apiserver": f"https://127.0.0.1:{port}/readyz",
            "kube-controller-manager": f"https://127.0.0.1:{port}/healthz",
            "kube-scheduler": f"https://127.0.0.1:{port}/healthz",
            "kwok": f"http://127.0.0.1:{port}/healthz",
            "kubelet": f"http://127.0.0.1:{port}/healthz",
            "kube-proxy": f"http://127.0.0.1:{port}/healthz",
            "prometheus": f"http://127.0.0.1:{port}/-/ready",
        }[name]

    def _check(self, name: str, port: int) -> tuple[bool, str]:
        if name == "containerd":
            ok = realnode.socket_answers(realnode.containerd_address())
            return ok, "socket answers" if ok else f"no answer on {realnode.containerd_address()}"
        admin = self.pki.pair("admin")
        ok, body = probe(self._health_url(name, port), TLSClient(self.pki.ca.cert, admin.cert, admin.key))
        if ok and name == "etcd":  # etcd answers 200 with {"health":"false"} while it has no leader
            ok = '"health":"true"' in body.replace(" ", "")
        return ok, body

    def status(self) -> list[ComponentStatus]:
        state = self.load_state()
        if state is None:
            return []
        out: list[ComponentStatus] = []
        for name in ORDER:
            rec = state.processes.get(name)
            if rec is None:
                continue
            running = is_alive(rec)
            port = state.ports.get("kubelet-healthz" if name == "kubelet" else name, 0)
            healthy, detail = self._check(name, port) if running else (False, "not running")
            out.append(
                ComponentStatus(
                    name, rec.pid, running, healthy, detail, rss_mib(rec.pid) if running else None
                )
            )
        for peer in peersmod.status(self):  # --peers: Kueue's and Volcano's processes
            rss = rss_mib(peer.pid) if peer.running and peer.pid else None
            out.append(ComponentStatus(peer.name, peer.pid, peer.running, peer.healthy, peer.detail, rss))
        return out

    def is_healthy(self) -> bool:
        st = self.status()
        return bool(st) and all(c.healthy for c in st)

    # --- up ------------------------------------------------------------------------------------------------
    def up(
        self,
        profile: ClusterProfile | None = None,
        *,
        reuse: bool = False,
        kube_scheduler: bool = False,
        progress: Progress = _quiet,
        bins: Binaries | None = None,
        node_timeout_s: float = 600,
        real_nodes: int | None = None,
        prometheus: bool = False,
        peers: Sequence[str] = (),
    ) -> UpResult:
        """Start the cluster (or reuse a healthy one) and create the profile's nodes.

        ``real_nodes`` overrides the profile's ``realNodes.count`` (None: take the profile's, 0 without one).
        ``prometheus`` also runs Prometheus (:mod:`motherboard.devcluster.prometheus`), in a reused one too.
        ``peers`` (``kueue``, ``volcano``) also runs those systems (:mod:`motherboard.devcluster.peers`).
        """
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        count = real_nodes if real_nodes is not None else (profile.real_nodes.count if profile else 0)
        if count > MAX_REAL_NODES:
            raise ClusterError(
                f"at most {MAX_REAL_NODES} real node per machine (the kubelet's device-plugin directory, its "
                f"cgroups and iptables chains are host-wide); asked for {count}"
            )
        if count:
            realnode.check_host()  # one clear line before anything starts
        state = self.load_state()
        if state is not None and any(is_alive(p) for p in state.processes.values()):
            # Asked for explicitly, the real-node count must match; otherwise whatever runs is reused (a test
            # session reusing a developer's demo cluster must not take its real node away).
            mismatch = real_nodes is not None and len(state.real_nodes) != count
            if reuse and self.is_healthy() and not mismatch:
                progress(f"reusing the running dev cluster in {self.dir}")
                result_nodes = self._apply_profile(profile, progress, timings, node_timeout_s)
                if prometheus and "prometheus" not in state.processes:
                    self.start_prometheus(progress, state)
                missing = [p for p in peers if peersmod.process_names(p)[0] not in state.processes]
                timings.update(peersmod.start(self, state, missing, progress))
                return UpResult(True, result_nodes, timings, self._rss(state), tuple(state.real_nodes))
            if not reuse:
                raise ClusterError(
                    f"a dev cluster is already running from {self.dir}; "
                    "pass --reuse to keep it or run `motherboard dev-cluster down` first"
                )
            progress(
                f"the running cluster has {len(state.real_nodes)} real nodes, not {count}: restarting it"
                if mismatch and self.is_healthy()
                else "the recorded cluster is unhealthy: stopping it and starting afresh"
            )
        self.down(progress=_quiet)
        binaries = bins or ensure_binaries(progress, real_nodes=bool(count))
        if count and not (binaries.kubelet.is_file() and binaries.kube_proxy.is_file()):
            binaries = ensure_binaries(progress, real_nodes=True)
        node_images = self._node_images(progress) if count else []
        peersmod.ensure_built(peers, progress)  # before anything starts: a peer that cannot build fails here
        timings["build"] = time.monotonic() - t0
        t1 = time.monotonic()
        self._fresh_state_dir()
        names = ["etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "kwok"]
        if kube_scheduler:
            names.append("kube-scheduler")
        if count:
            names += ["kubelet", "kubelet-healthz", "kube-proxy", "kube-proxy-metrics"]
        state = ClusterState(ports=dict(zip(names, free_ports(len(names)), strict=True)))
        state.real_nodes = [realnode.node_name(i) for i in range(count)]
        self._save(state)
        try:
            if count:  # before any host change: fails at once if another cluster has this machine's node
                realnode.claim_host(self.dir, progress)
            self._make_pki(progress, state.real_nodes)
            self._start_all(state, binaries, kube_scheduler, progress)
            timings["control-plane"] = time.monotonic() - t1
            nodes = self._apply_profile(profile, progress, timings, node_timeout_s)
            if prometheus:
                self.start_prometheus(progress, state)
            timings.update(peersmod.start(self, state, peers, progress))
            if count:
                t2 = time.monotonic()
                self._start_real_node(state, binaries, profile, node_images, progress, timings)
                timings["real-node"] = time.monotonic() - t2
        except BaseException:
            progress("start failed: stopping what was started (logs kept in " + str(self.log_dir) + ")")
            try:
                self.down(progress=_quiet)
            except realnode.RealNodeError as exc:  # the start's own error is the one to report
                progress(str(exc))
            raise
        timings["total"] = time.monotonic() - t0
        return UpResult(False, nodes, timings, self._rss(state), tuple(state.real_nodes))

    def start_prometheus(self, progress: Progress = _quiet, state: ClusterState | None = None) -> str:
        """Start Prometheus on a free port, scraping this cluster (see :mod:`~motherboard.devcluster.prometheus`);
        returns its URL. ``state``: the record ``up`` holds (so its later saves keep this process)."""
        state = state or self.load_state()
        if state is None:
            raise ClusterError(f"no dev cluster in {self.dir}")
        try:
            binary = prommod.binary()
        except prommod.PrometheusError as exc:
            raise ClusterError(str(exc)) from exc
        (state.ports["prometheus"],) = free_ports(1)
        admin, folder = self.pki.pair("admin"), prommod.PrometheusDir(self.dir)
        rules = prommod.rules_file()
        auth = prommod.ApiserverAuth(state.ports["kube-apiserver"], self.pki.ca.cert, admin.cert, admin.key)
        folder.write(auth, rules if rules.is_file() else None)
        self._start(
            state, "prometheus", folder.argv(binary, state.ports["prometheus"]), progress, timeout_s=60
        )
        return self.prometheus_url() or ""

    def prometheus_url(self) -> str | None:
        """The URL of this cluster's Prometheus, None when it runs none."""
        state = self.load_state()
        if state is None or "prometheus" not in state.processes:
            return None
        return f"http://127.0.0.1:{state.ports['prometheus']}"

    def _rss(self, state: ClusterState) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, rec in state.processes.items():
            value = rss_mib(rec.pid) if is_alive(rec) else None
            if value is not None:
                out[name] = value
        return out

    def _fresh_state_dir(self) -> None:
        # Keep nothing from an earlier cluster: a stale etcd or CA would not match the new certificates.
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, mode=0o700)
        self.log_dir.mkdir()

    def _make_pki(self, progress: Progress, real_nodes: list[str] | None = None) -> None:
        progress("making certificates")
        p = self.pki
        pkimod.make_ca(p)
        pkimod.make_leaf(
            p,
            "kube-apiserver",
            "kube-apiserver",
            server_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            server_ips=("127.0.0.1", KUBERNETES_SERVICE_IP),
        )
        # Serving cert for the controller-manager and scheduler health endpoints, so probes verify TLS.
        pkimod.make_leaf(
            p, "loopback-serving", "localhost", server_names=("localhost",), server_ips=("127.0.0.1",)
        )
        pkimod.make_leaf(p, "admin", "motherboard-admin", organizations=("system:masters",))
        # These CNs are the users Kubernetes' bootstrap RBAC grants the components' permissions to.
        pkimod.make_leaf(p, "kube-controller-manager", "system:kube-controller-manager")
        pkimod.make_leaf(p, "kube-scheduler", "system:kube-scheduler")
        # kwok acts for every fake node's kubelet; the Node authorizer would need one identity per node,
        # so it is an admin, as in kwokctl's own clusters.
        pkimod.make_leaf(p, "kwok", "kwok-controller", organizations=("system:masters",))
        pkimod.make_service_account_keys(p)
        # Without request-header (front-proxy) settings every delegating component logs errors about the
        # missing CA bundle, and aggregated APIs (metrics-server and the like) could not be registered.
        pkimod.make_ca(p, "motherboard-dev-front-proxy-ca", ca=p.front_proxy_ca)
        pkimod.make_leaf(p, "front-proxy-client", FRONT_PROXY_CLIENT, ca=p.front_proxy_ca)
        if real_nodes:
            # The API server calls real kubelets (logs, exec, port-forward) as this user; the kubelets
            # authorise it by asking the API server (webhook), where system:masters may do anything.
            pkimod.make_leaf(
                p, APISERVER_KUBELET_CLIENT, APISERVER_KUBELET_CLIENT, organizations=("system:masters",)
            )
        for name in real_nodes or ():
            # Each kubelet is its node and nothing more: the Node authorizer and NodeRestriction key on this.
            pkimod.make_leaf(p, f"kubelet-{name}", f"system:node:{name}", organizations=("system:nodes",))
        if real_nodes:  # bootstrap RBAC's system:node-proxier role is bound to this user
            pkimod.make_leaf(p, "kube-proxy", realnode.KUBE_PROXY_USER)

    def _start_all(
        self, state: ClusterState, bins: Binaries, kube_scheduler: bool, progress: Progress
    ) -> None:
        ports, p = state.ports, self.pki
        server = f"https://127.0.0.1:{ports['kube-apiserver']}"
        admin = p.pair("admin")
        write_kubeconfig(self.kubeconfig, server, p.ca.cert, admin.cert, admin.key, "motherboard-admin")
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            pair = p.pair(name)
            write_kubeconfig(self._component_kubeconfig(name), server, p.ca.cert, pair.cert, pair.key, name)

        self._start(state, "etcd", self._etcd_argv(bins, ports), progress, timeout_s=60)
        apiserver = self._apiserver_argv(bins, ports, real_nodes=bool(state.real_nodes))
        self._start(state, "kube-apiserver", apiserver, progress, timeout_s=180)
        self._start(state, "kube-controller-manager", self._kcm_argv(bins, ports), progress, timeout_s=120)
        if kube_scheduler:
            self._start(state, "kube-scheduler", self._scheduler_argv(bins, ports), progress, timeout_s=120)
        self._write_kwok_config()
        # kwok also loads ~/.kwok/kwok.yaml when it exists; a private HOME keeps a user's stages out.
        env = {**os.environ, "HOME": str(self.dir / "kwok-home")}
        self._start(state, "kwok", self._kwok_argv(bins, ports), progress, timeout_s=60, env=env)

    def _start(
        self,
        state: ClusterState,
        name: str,
        argv: list[str],
        progress: Progress,
        timeout_s: float,
        env: dict[str, str] | None = None,
    ) -> None:
        started = time.monotonic()
        progress(f"starting {name}")
        rec = spawn(name, argv, self.log_dir / f"{name}.log", env=env, cwd=self.dir)
        state.processes[name] = rec
        self._save(state)  # recorded before waiting, so `down` can stop it whatever happens next
        port = state.ports[name]

        def check() -> tuple[bool, str]:
            if not is_alive(rec):
                tail = Path(rec.log).read_text(errors="replace").strip().splitlines()[-5:]
                raise ClusterError(f"{name} exited during start-up; last log lines:\n  " + "\n  ".join(tail))
            return self._check(name, port)

        try:
            wait_until(check, timeout_s, name)
        except TimeoutError as exc:
            raise ClusterError(f"{exc} (log: {rec.log})") from exc
        progress(f"  {name} ready on 127.0.0.1:{port} in {time.monotonic() - started:.1f}s")

    # --- command lines -------------------------------------------------------------------------------------
    def _etcd_argv(self, bins: Binaries, ports: dict[str, int]) -> list[str]:
        client, peer = f"http://127.0.0.1:{ports['etcd']}", f"http://127.0.0.1:{ports['etcd-peer']}"
        return [
            str(bins.etcd),
            "--name=dev",
            f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=dev={peer}",
            "--initial-cluster-state=new",
            # Throw-away data: fsync on every write makes creating 1,000 nodes several times slower on CI disks.
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        ]

    def _apiserver_argv(self, bins: Binaries, ports: dict[str, int], real_nodes: bool = False) -> list[str]:
        p, serving = self.pki, self.pki.pair("kube-apiserver")
        kubelet_client = p.pair(APISERVER_KUBELET_CLIENT)
        # Only with real nodes: their InternalIP is the lo address the kubelet listens on (the default tries
        # the Hostname first, which does not resolve). kwok nodes' made-up IPs must never be dialled.
        kubelet_flags = [
            "--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP",
            f"--kubelet-client-certificate={kubelet_client.cert}",
            f"--kubelet-client-key={kubelet_client.key}",
        ]
        return [
            str(bins.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['kube-apiserver']}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={p.ca.cert}",
            "--authorization-mode=Node,RBAC",
            # NodeRestriction on top of the default plugins (NamespaceLifecycle, ServiceAccount, PodSecurity,
            # ResourceQuota, webhooks, ValidatingAdmissionPolicy, TaintNodesByCondition, ...).
            "--enable-admission-plugins=NodeRestriction",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={p.sa_pub}",
            f"--service-account-signing-key-file={p.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            # The `kubernetes` Service may not point at a loopback address, and nothing runs in-cluster here.
            "--endpoint-reconciler-type=none",
            f"--requestheader-client-ca-file={p.front_proxy_ca.cert}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={p.pair('front-proxy-client').cert}",
            f"--proxy-client-key-file={p.pair('front-proxy-client').key}",
            "--profiling=false",
            "--v=1",
            *(kubelet_flags if real_nodes else []),
        ]

    def _kcm_argv(self, bins: Binaries, ports: dict[str, int]) -> list[str]:
        p, kc = self.pki, self._component_kubeconfig("kube-controller-manager")
        serving = p.pair("loopback-serving")
        return [
            str(bins.kube_controller_manager),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-controller-manager']}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={p.ca.cert}",
            "--controllers=" + ",".join(CONTROLLERS),
            # Each controller acts as its own service account, so RBAC is exercised as in production.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={p.sa_key}",
            f"--root-ca-file={p.ca.cert}",
            "--cluster-name=motherboard-dev",
            "--leader-elect=false",
            # The client defaults (20 qps) would take ~50s just to untaint 1,000 new nodes.
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=1",
        ]

    def _scheduler_argv(self, bins: Binaries, ports: dict[str, int]) -> list[str]:
        kc, serving = self._component_kubeconfig("kube-scheduler"), self.pki.pair("loopback-serving")
        return [
            str(bins.kube_scheduler),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-scheduler']}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            "--leader-elect=false",
            # Its client default (50 qps, burst 100) caps binding at 50 pods/s: a benchmark against it would
            # measure the rate limiter. The peers get the same rate (devcluster/peers.py CLIENT_QPS).
            "--kube-api-qps=500",
            "--kube-api-burst=1000",
        ]

    def _kwok_argv(self, bins: Binaries, ports: dict[str, int]) -> list[str]:
        return [
            str(bins.kwok),
            f"--kubeconfig={self._component_kubeconfig('kwok')}",
            f"--config={self.dir / 'kwok.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}={KWOK_NODE_VALUE}",
            f"--cidr={POD_CIDR}",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ]

    def _write_kwok_config(self) -> None:
        stages = resources.files("motherboard.devcluster").joinpath("kwok-stages.yaml").read_text()
        (self.dir / "kwok.yaml").write_text(KWOK_OPTIONS + "---\n" + stages)
        (self.dir / "kwok-home").mkdir(exist_ok=True)

    # --- nodes ---------------------------------------------------------------------------------------------
    def _apply_profile(
        self, profile: ClusterProfile | None, progress: Progress, timings: dict[str, float], timeout_s: float
    ) -> int:
        if profile is None:
            return 0
        from motherboard.devcluster.fakenodes import api_client, create_nodes, wait_schedulable

        manifests = render_nodes(profile)
        progress(f"creating {len(manifests)} kwok nodes from profile {profile.name}")
        with api_client(self.kubeconfig) as api:
            res = create_nodes(api, manifests, progress=progress)
            timings["create-nodes"] = res.seconds
            progress(f"  {res.created} created, {res.existing} already there, in {res.seconds:.1f}s")
            names = [p.name for p in placements(profile)]
            timings["nodes-schedulable"] = wait_schedulable(api, names, timeout_s, progress)
        state = self.load_state()
        if state is not None:
            state.profile = profile.name
            self._save(state)
        return len(manifests)

    # --- real nodes ----------------------------------------------------------------------------------------
    def _node_images(self, progress: Progress) -> list[imagesmod.Image]:
        """The images every real node needs: the sandbox (pause) and a Python base for plain pods."""
        try:
            return [imagesmod.pause_image(progress), imagesmod.python_image(progress)]
        except imagesmod.ImageError as exc:
            raise ClusterError(str(exc)) from exc

    def real_node_spec(self, profile: ClusterProfile | None, name: str) -> realnode.NodeSpec:
        """Labels and taints of a real node: its site's (as kwok nodes get them) plus the profile's own."""
        if profile is None:
            return realnode.NodeSpec(name, {LABEL_REAL_NODE: "true"}, (), 20)
        real, site = profile.real_nodes, profile.real_node_site
        labels = {
            LABEL_SITE: site.name,
            LABEL_SITE_KIND: site.kind.value,
            LABEL_REGION: site.region,
            LABEL_ZONE: real.zone or site.zone_names[0],
            LABEL_REAL_NODE: "true",
        }
        if real.device_plugin:
            labels[LABEL_DEVICE_PLUGIN] = real.device_plugin
        labels.update(real.labels)
        taints = [f"{t.key}={t.value}:{t.effect.value}" for t in real.taints]
        if site.kind is SiteKind.EDGE and site.taint_edge_nodes:
            taints.append(f"{TAINT_EDGE}=true:NoSchedule")
        return realnode.NodeSpec(name, labels, tuple(taints), real.max_pods)

    def _start_real_node(
        self,
        state: ClusterState,
        bins: Binaries,
        profile: ClusterProfile | None,
        node_images: list[imagesmod.Image],
        progress: Progress,
        timings: dict[str, float],
    ) -> None:
        (name,) = state.real_nodes
        record = realnode.HostRecord.load()
        if record is None or record.cluster_dir != str(self.dir):
            raise ClusterError("lost this machine's real-node record while starting; run `down` and retry")
        node_dir = self.node_dir
        node_dir.mkdir(parents=True, exist_ok=True)
        realnode.record_created(
            record, realnode.KUBELET_HOST_DIR, realnode.PLUGIN_STATE_DIR, realnode.CONTAINERD_RUN_DIR
        )
        started = time.monotonic()
        realnode.setup_host_network(record, state.ports["kube-apiserver"])
        progress(f"starting containerd (node IP {realnode.NODE_IP} on lo, bridge {realnode.BRIDGE})")
        rec = realnode.start_containerd(
            record, node_dir, self.log_dir / "containerd.log", imagesmod.PAUSE_REF
        )
        state.processes["containerd"] = rec
        self._save(state)
        realnode.wait_containerd(rec)
        timings["containerd"] = time.monotonic() - started
        t = time.monotonic()
        for image in node_images:
            imagesmod.import_image(image, realnode.ctr(), progress)
        timings["image-import"] = time.monotonic() - t
        spec = self.real_node_spec(profile, name)
        pair = self.pki.pair(f"kubelet-{name}")
        kubeconfig = self._component_kubeconfig(f"kubelet-{name}")
        server = f"https://127.0.0.1:{state.ports['kube-apiserver']}"
        write_kubeconfig(kubeconfig, server, self.pki.ca.cert, pair.cert, pair.key, f"system:node:{name}")
        realnode.write_node_files(node_dir, self.pki.ca.cert, state.ports, spec)
        t = time.monotonic()
        self._spawn_kubelet(state, bins, kubeconfig, spec, progress)
        self.wait_node_ready(name, timeout_s=120)
        timings["kubelet-ready"] = time.monotonic() - t
        progress(
            f"  real node {name} Ready in {time.monotonic() - t:.1f}s (site {spec.labels.get(LABEL_SITE)})"
        )
        # Service ClusterIPs and NodePorts; after the Node exists, whose primary IP its NodePorts listen on.
        t = time.monotonic()
        proxy = self.pki.pair("kube-proxy")
        proxy_kubeconfig = self._component_kubeconfig("kube-proxy")
        write_kubeconfig(
            proxy_kubeconfig, server, self.pki.ca.cert, proxy.cert, proxy.key, realnode.KUBE_PROXY_USER
        )
        progress(f"starting kube-proxy {name} (iptables mode)")
        argv = realnode.kube_proxy_argv(bins.kube_proxy, proxy_kubeconfig, name, state.ports)
        rec = spawn("kube-proxy", argv, self.log_dir / "kube-proxy.log", cwd=self.dir)
        state.processes["kube-proxy"] = rec
        self._save(state)
        realnode.wait_kube_proxy(rec, state.ports["kube-proxy"])
        timings["kube-proxy"] = time.monotonic() - t

    def _spawn_kubelet(
        self,
        state: ClusterState,
        bins: Binaries,
        kubeconfig: Path,
        spec: realnode.NodeSpec,
        progress: Progress,
    ) -> None:
        progress(f"starting kubelet {spec.name}")
        argv = realnode.kubelet_argv(bins.kubelet, self.node_dir, kubeconfig, spec)
        state.processes["kubelet"] = spawn("kubelet", argv, self.log_dir / "kubelet.log", cwd=self.dir)
        self._save(state)

    def kill_and_restart(self, name: str, down_s: float = 0.0, timeout_s: float = 180) -> None:
        """SIGKILL one control-plane component (``kube-apiserver``, ``etcd``, ...), keep it down for
        ``down_s`` seconds, start it again with the same command line and wait until it is healthy
        (fault tests: what clients see when the API server or its store dies under load)."""
        state = self.load_state()
        rec = state.processes.get(name) if state else None
        if state is None or rec is None:
            raise ClusterError(f"no {name} runs in {self.dir}")
        stop(rec, grace_s=0)
        time.sleep(down_s)
        state.processes[name] = spawn(name, list(rec.argv), Path(rec.log), cwd=self.dir)
        self._save(state)
        port = state.ports[name]
        wait_until(lambda: self._check(name, port), timeout_s, name)

    def restart_kubelet(self, progress: Progress = _quiet) -> None:
        """Stop the real node's kubelet and start it again with the same command line (tests, recovery)."""
        state = self.load_state()
        rec = state.processes.get("kubelet") if state else None
        if state is None or rec is None:
            raise ClusterError(f"no real node runs in {self.dir}")
        stop(rec)
        progress(f"restarting kubelet {state.real_nodes[0]}")
        state.processes["kubelet"] = spawn("kubelet", list(rec.argv), Path(rec.log), cwd=self.dir)
        self._save(state)

    def wait_node_ready(self, name: str, timeout_s: float = 120) -> None:
        from motherboard.devcluster.fakenodes import api_client

        state = self.load_state()
        kubelet = state.processes.get("kubelet") if state else None
        deadline = time.monotonic() + timeout_s
        with api_client(self.kubeconfig) as api:
            from kubernetes import client
            from kubernetes.client.exceptions import ApiException

            core = client.CoreV1Api(api)
            while True:
                if kubelet is not None and not is_alive(kubelet):
                    tail = Path(kubelet.log).read_text(errors="replace").strip().splitlines()[-5:]
                    raise ClusterError(
                        "the kubelet exited during start-up; last log lines:\n  " + "\n  ".join(tail)
                    )
                try:
                    node = core.read_node(name)
                    conditions = {c.type: c for c in ((node.status and node.status.conditions) or [])}
                    ready = conditions.get("Ready")
                    if ready is not None and ready.status == "True":
                        return
                    detail = f"Ready={ready.status}: {ready.message}" if ready else "no Ready condition yet"
                except ApiException as exc:
                    detail = f"not registered ({exc.status})"
                if time.monotonic() > deadline:
                    raise ClusterError(f"real node {name} not Ready after {timeout_s:.0f}s: {detail}")
                time.sleep(0.2)

    # --- down ----------------------------------------------------------------------------------------------
    def down(self, progress: Progress = _quiet) -> list[str]:
        """Stop every recorded daemon (kwok first, etcd last); returns the names that were running.

        A real node goes first: the kubelet, then every container in containerd, then containerd, then the
        host changes (whose record is machine-wide, so this also works after a crash).
        """
        state = self.load_state()
        if state is None:
            return []
        stopped: list[str] = []
        proxy = state.processes.pop("kube-proxy", None)  # first: it would program chains `down` removes
        if realnode.stop_process(proxy):
            progress(f"stopped kube-proxy (pid {proxy.pid if proxy else '?'})")
            stopped.append("kube-proxy")
        kubelet, containerd = state.processes.pop("kubelet", None), state.processes.pop("containerd", None)
        if realnode.stop_process(kubelet):
            progress(f"stopped kubelet (pid {kubelet.pid if kubelet else '?'})")
            stopped.append("kubelet")
        if containerd is not None and is_alive(containerd):
            realnode.cleanup_containers(progress)
        if realnode.stop_process(containerd):
            progress(f"stopped containerd (pid {containerd.pid if containerd else '?'})")
            stopped.append("containerd")
        undo_error: realnode.RealNodeError | None = None
        if state.real_nodes or kubelet or containerd or proxy:
            try:
                realnode.release_host(self.dir, progress)
            except realnode.RealNodeError as exc:  # the control plane still goes; the error is reported after
                undo_error = exc
        self._save(state)
        for name, peer in [(n, r) for n, r in state.processes.items() if n not in ORDER]:  # --peers first
            if stop(peer):
                progress(f"stopped {name} (pid {peer.pid})")
                stopped.append(name)
        for name in reversed(ORDER):
            rec = state.processes.get(name)
            if rec is not None and stop(rec):
                progress(f"stopped {name} (pid {rec.pid})")
                stopped.append(name)
        state.processes = {}
        self._save(state)
        if undo_error is not None:
            raise undo_error
        return stopped
