"""The peers Motherboard is measured against, run beside the dev cluster: Kueue and Volcano.

``motherboard dev-cluster up --peers kueue,volcano`` builds them from their pinned Go modules
(``hack/tools/kueue``, ``hack/tools/volcano``; :data:`motherboard.devcluster.build.PEER_TOOLS`), installs
their CRDs from the modules' own ``config/`` folders (read from the Go module cache, so they are exactly the
pinned version's) and runs them as host processes like the rest of the control plane:

* **Kueue** ``v0.17.0``: the controller manager with the ``batch/job`` integration only (the other
  frameworks' CRDs are not installed), its webhooks served on 127.0.0.1 with a certificate the dev cluster's
  CA issues (internal certificate management off), the webhook configurations from its ``config/`` folder
  pointed at that address. The pod, deployment and statefulset webhooks are left out: they would sit in the
  path of every pod the other systems create.
* **Volcano** ``v1.10.0`` (the newest release the Go module proxy serves; 1.11 to 1.13 answer 403): the
  scheduler (``enqueue, allocate, backfill, reclaim`` with the gang, drf, predicates, capacity, nodeorder
  and binpack plugins), the controller manager and the admission webhook for vcjobs, podgroups and queues
  (its pod webhooks are left out for the same reason), each with certificates the dev cluster issues.

Every process is recorded in the cluster's ``state.json`` so ``dev-cluster down`` stops it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from motherboard.devcluster import pki as pkimod
from motherboard.devcluster.build import KUEUE, PEER_TOOLS, VOLCANO, BuildError, GoTool, build_tool
from motherboard.devcluster.health import TLSClient, free_ports, probe, wait_until
from motherboard.devcluster.kubeconfig import write_kubeconfig
from motherboard.devcluster.procs import ProcessRecord, is_alive, spawn

if TYPE_CHECKING:
    from motherboard.devcluster.cluster import ClusterState, DevCluster

Progress = Callable[[str], None]
Obj = dict[str, Any]

PEERS = ("kueue", "volcano")
KUEUE_NAMESPACE = "kueue-system"
VOLCANO_NAMESPACE = "volcano-system"
WEBHOOK_CERT = "peer-webhook"

KUEUE_WEBHOOK_PREFIXES = (
    "/mutate-batch-v1-job",
    "/validate-batch-v1-job",
    "/mutate-kueue-x-k8s-io-",
    "/validate-kueue-x-k8s-io-",
)
"""The Kueue webhooks kept: its own kinds and batch/v1 Jobs (the one integration it runs here)."""

VOLCANO_ADMISSIONS = (
    "/jobs/mutate",
    "/jobs/validate",
    "/podgroups/mutate",
    "/queues/mutate",
    "/queues/validate",
)
"""Volcano's webhook paths served (its default less ``/pods/*``)."""

VOLCANO_RULES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # path: (kind of configuration, API group, resource, operations), as each admission service declares.
    "/jobs/mutate": ("Mutating", "batch.volcano.sh/v1alpha1", "jobs", ("CREATE",)),
    "/jobs/validate": ("Validating", "batch.volcano.sh/v1alpha1", "jobs", ("CREATE", "UPDATE")),
    "/podgroups/mutate": ("Mutating", "scheduling.volcano.sh/v1beta1", "podgroups", ("CREATE",)),
    "/queues/mutate": ("Mutating", "scheduling.volcano.sh/v1beta1", "queues", ("CREATE",)),
    "/queues/validate": (
        "Validating",
        "scheduling.volcano.sh/v1beta1",
        "queues",
        ("CREATE", "UPDATE", "DELETE"),
    ),
}

VOLCANO_SCHEDULER_CONF = """\
actions: "enqueue, allocate, backfill, reclaim"
tiers:
- plugins:
  - name: priority
  - name: gang
    enablePreemptable: false
  - name: conformance
- plugins:
  - name: drf
    enablePreemptable: false
  - name: predicates
  - name: capacity
  - name: nodeorder
  - name: binpack
"""
"""Volcano's scheduler policy: its chart's default with ``capacity`` (deserved/capability queues) in place
of ``proportion`` and the ``reclaim`` action, so a lender gets its guarantee back from a borrower."""

CLIENT_QPS = 500
"""API client rate for every peer (burst 2×): their defaults (Kueue 50, Volcano 50/100) would measure the
rate limiter, not the system; Motherboard's scheduler runs with no limit."""


class PeerError(RuntimeError):
    """A peer cannot be built, configured or started."""


@dataclass(frozen=True)
class PeerStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str


def parse_peers(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"kueue,volcano"`` → ``("kueue", "volcano")``; unknown names are refused by name."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [p.strip().lower() for p in items if p.strip()]
    unknown = [p for p in names if p not in PEERS]
    if unknown:
        raise PeerError(f"--peers: unknown peer {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    return tuple(dict.fromkeys(names))


def tool(peer: str) -> GoTool:
    return PEER_TOOLS[peer]


def process_names(peer: str) -> tuple[str, ...]:
    return ("kueue",) if peer == "kueue" else ("volcano-webhook", "volcano-controllers", "volcano-scheduler")


# --- the module's files ------------------------------------------------------------------------------------
def module_source(t: GoTool) -> Path:
    """The pinned module's extracted source in the Go module cache (downloaded if missing)."""
    try:
        out = subprocess.run(
            ["go", "mod", "download", "-json", f"{t.module}@{t.version}"],
            cwd=t.module_dir(),
            env={**os.environ, "GOFLAGS": "-mod=mod"},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerError(f"could not read {t.module}@{t.version} from the Go module cache: {exc}") from exc
    try:
        info = json.loads(out.stdout)
    except ValueError:
        info = {}
    if out.returncode != 0 or info.get("Error") or not info.get("Dir"):
        why = info.get("Error") or out.stderr.strip() or f"exit {out.returncode}"
        raise PeerError(f"could not download {t.module}@{t.version}: {why}")
    return Path(info["Dir"])


def crd_files(peer: str, source: Path) -> list[Path]:
    # Volcano's controller manager also runs the JobFlow and JobTemplate controllers, whose CRDs are apart.
    folders = (
        [source / "config" / "components" / "crd" / "bases"]
        if peer == "kueue"
        else [
            source / "config" / "crd" / "volcano" / "bases",
            source / "config" / "crd" / "jobflow" / "bases",
        ]
    )
    files = sorted(f for folder in folders for f in folder.glob("*.yaml"))
    folder = folders[0]
    if not files:
        raise PeerError(
            f"no CRDs in {folder}: is {tool(peer).module}@{tool(peer).version} the module it should be?"
        )
    return files


def kueue_webhooks(source: Path, port: int, ca_pem: bytes) -> list[Obj]:
    """Kueue's webhook configurations from its ``config/`` folder, kept to :data:`KUEUE_WEBHOOK_PREFIXES`
    and pointed at ``https://127.0.0.1:port``."""
    import base64

    path = source / "config" / "components" / "webhook" / "manifests.yaml"
    bundle = base64.b64encode(ca_pem).decode()
    out: list[Obj] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        kept = []
        for hook in doc.get("webhooks", []):
            svc = hook["clientConfig"].pop("service")
            if not svc["path"].startswith(KUEUE_WEBHOOK_PREFIXES):
                continue
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{svc['path']}", "caBundle": bundle}
            # Only the namespaces of the benchmarks' Kueue tenants; nothing else pays for the call.
            hook["namespaceSelector"] = (
                {"matchLabels": {"motherboard.io/peer": "kueue"}} if _job_hook(svc) else {}
            )
            hook["timeoutSeconds"] = 10
            kept.append(hook)
        doc["webhooks"] = kept
        doc["metadata"] = {"name": f"kueue-{doc['metadata']['name']}"}
        out.append(doc)
    return out


def _job_hook(svc: Obj) -> bool:
    return "batch-v1-job" in str(svc.get("path", ""))


def volcano_webhooks(port: int, ca_pem: bytes) -> list[Obj]:
    """The configurations Volcano's webhook manager looks for (named ``volcano-admission-service<path>``;
    it fills in the CA bundle itself), as its chart's ``webhooks.yaml`` makes them, pointed at 127.0.0.1."""
    import base64

    out: list[Obj] = []
    for path in VOLCANO_ADMISSIONS:
        kind, group_version, resource, ops = VOLCANO_RULES[path]
        group, version = group_version.split("/")
        out.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": f"{kind}WebhookConfiguration",
                "metadata": {"name": "volcano-admission-service" + path.replace("/", "-")},
                "webhooks": [
                    {
                        "name": f"{path.strip('/').replace('/', '-')}.volcano.sh",
                        "admissionReviewVersions": ["v1"],
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{port}{path}",
                            "caBundle": base64.b64encode(ca_pem).decode(),
                        },
                        "failurePolicy": "Fail",
                        "matchPolicy": "Equivalent",
                        "sideEffects": "NoneOnDryRun",
                        "timeoutSeconds": 10,
                        "rules": [
                            {
                                "apiGroups": [group],
                                "apiVersions": [version],
                                "operations": list(ops),
                                "resources": [resource],
                                "scope": "*",
                            }
                        ],
                    }
                ],
            }
        )
    return out


def kueue_config(ports: dict[str, int], cert_dir: Path) -> Obj:
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": KUEUE_NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{ports['kueue-health']}"},
        # Off: a secured metrics server would need TokenReviews and the certificate below to mean something.
        "metrics": {"bindAddress": "0"},
        "webhook": {"port": ports["kueue-webhook"], "host": "127.0.0.1", "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "clientConnection": {"qps": CLIENT_QPS, "burst": 2 * CLIENT_QPS},
        "integrations": {"frameworks": ["batch/job"]},
        # The on-demand visibility API is an aggregated API server of its own: not needed to schedule.
        "featureGates": {"VisibilityOnDemand": False},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Workload.kueue.x-k8s.io": 5,
                "LocalQueue.kueue.x-k8s.io": 1,
                "ClusterQueue.kueue.x-k8s.io": 1,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
    }


# --- start and stop ----------------------------------------------------------------------------------------
def ensure_built(peers: Iterable[str], progress: Progress) -> dict[str, Path]:
    """Build each peer's binaries into the cache unless they are there; its ``bin`` directory by name."""
    out: dict[str, Path] = {}
    for peer in peers:
        try:
            out[peer] = build_tool(tool(peer), progress)
        except BuildError as exc:
            raise PeerError(f"{peer}: {exc}") from exc
    return out


def _apply(kubectl: Path, kubeconfig: Path, docs: Iterable[Obj | str], what: str) -> None:
    text = "\n---\n".join(d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for d in docs)
    proc = subprocess.run(
        [
            str(kubectl),
            f"--kubeconfig={kubeconfig}",
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        raise PeerError(f"applying {what} failed: {proc.stderr.strip()[-2000:]}")


def _wait_crds(kubectl: Path, kubeconfig: Path) -> None:
    proc = subprocess.run(
        [
            str(kubectl),
            f"--kubeconfig={kubeconfig}",
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=120s",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=150,
    )
    if proc.returncode != 0:
        raise PeerError(f"the peers' CRDs were not Established: {proc.stderr.strip()[-1000:]}")


def _namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def start(
    cluster: DevCluster, state: ClusterState, peers: Sequence[str], progress: Progress
) -> dict[str, float]:
    """Build, configure and start ``peers`` beside a running dev cluster; seconds each took to be healthy."""
    from motherboard.devcluster.build import binaries

    if not peers:
        return {}
    bins = ensure_built(peers, progress)
    kubectl = binaries().kubectl
    p = cluster.pki
    pkimod.make_leaf(
        p, WEBHOOK_CERT, "motherboard-peer-webhook", server_names=("localhost",), server_ips=("127.0.0.1",)
    )
    server = f"https://127.0.0.1:{state.ports['kube-apiserver']}"
    names = [n for n in _port_names(peers) if n not in state.ports]
    state.ports.update(zip(names, free_ports(len(names)), strict=True))
    cluster._save(state)
    seconds: dict[str, float] = {}
    for peer in peers:
        started = time.monotonic()
        # Cluster admins, as kwok is here: their RBAC comes in their charts, not in the modules' config/.
        pair = pkimod.make_leaf(p, f"peer-{peer}", f"{peer}-controller", organizations=("system:masters",))
        kubeconfig = cluster.dir / "kubeconfigs" / f"{peer}.kubeconfig"
        write_kubeconfig(kubeconfig, server, p.ca.cert, pair.cert, pair.key, f"{peer}-controller")
        source = module_source(tool(peer))
        progress(f"installing {peer} {tool(peer).version}: CRDs from {source}")
        crds = [f.read_text() for f in crd_files(peer, source)]
        _apply(kubectl, cluster.kubeconfig, crds, f"{peer}'s CRDs")
        _wait_crds(kubectl, cluster.kubeconfig)
        if peer == "kueue":
            _start_kueue(cluster, state, bins[peer], source, kubeconfig, kubectl, progress)
        else:
            _start_volcano(cluster, state, bins[peer], kubeconfig, kubectl, progress)
        seconds[peer] = time.monotonic() - started
        progress(f"  {peer} ready in {seconds[peer]:.1f}s")
    return seconds


def _port_names(peers: Sequence[str]) -> list[str]:
    out: list[str] = []
    if "kueue" in peers:
        out += ["kueue-webhook", "kueue-health", "kueue-metrics", "kueue-visibility"]
    if "volcano" in peers:
        out += [
            "volcano-webhook",
            "volcano-webhook-healthz",
            "volcano-controllers-healthz",
            "volcano-scheduler-healthz",
            "volcano-scheduler-metrics",
        ]
    return out


def _spawn(
    cluster: DevCluster, state: ClusterState, name: str, argv: list[str], env: dict[str, str] | None = None
) -> ProcessRecord:
    rec = spawn(name, argv, cluster.log_dir / f"{name}.log", env=env, cwd=cluster.dir)
    state.processes[name] = rec
    cluster._save(state)  # recorded before waiting: `down` stops it whatever happens next
    return rec


def _wait(rec: ProcessRecord, check: Callable[[], tuple[bool, str]], timeout_s: float) -> None:
    def guarded() -> tuple[bool, str]:
        if not is_alive(rec):
            tail = Path(rec.log).read_text(errors="replace").strip().splitlines()[-8:]
            raise PeerError(f"{rec.name} exited during start-up; last log lines:\n  " + "\n  ".join(tail))
        return check()

    try:
        wait_until(guarded, timeout_s, rec.name)
    except TimeoutError as exc:
        raise PeerError(f"{exc} (log: {rec.log})") from exc


def _start_kueue(
    cluster: DevCluster,
    state: ClusterState,
    bin_dir: Path,
    source: Path,
    kubeconfig: Path,
    kubectl: Path,
    progress: Progress,
) -> None:
    ports, p = state.ports, cluster.pki
    cert_dir = cluster.dir / "peers" / "kueue-certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    serving = p.pair(WEBHOOK_CERT)
    for src, dst in ((serving.cert, "tls.crt"), (serving.key, "tls.key")):
        (cert_dir / dst).write_bytes(src.read_bytes())
        (cert_dir / dst).chmod(0o600)
    _kueue_metrics_certs(serving.cert, serving.key)
    config = cluster.dir / "peers" / "kueue-config.yaml"
    config.write_text(yaml.safe_dump(kueue_config(ports, cert_dir), sort_keys=False))
    _apply(kubectl, cluster.kubeconfig, [_namespace(KUEUE_NAMESPACE)], "kueue's namespace")
    progress("starting kueue")
    argv = [
        str(bin_dir / "kueue"),
        f"--config={config}",
        f"--visibility-server-port={ports['kueue-visibility']}",
        "--zap-log-level=info",
    ]
    rec = _spawn(cluster, state, "kueue", argv, env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    _wait(rec, lambda: probe(f"http://127.0.0.1:{ports['kueue-health']}/readyz"), 180)
    # The configurations go in once the webhook answers (their failurePolicy is Fail).
    hooks = kueue_webhooks(source, ports["kueue-webhook"], p.ca.cert.read_bytes())
    _apply(kubectl, cluster.kubeconfig, hooks, "kueue's webhook configurations")


KUEUE_METRICS_CERTS = Path("/etc/kueue/metrics/certs")
"""Where Kueue v0.17 reads its metrics certificate whenever internal certificate management is off: a path
compiled into its ``main`` with no flag or setting to move it. It exits without one, so the dev cluster's
serving certificate is copied there; its metrics server stays off (``bindAddress: "0"``), so whichever
cluster wrote it last makes no difference, and the files are left for the next start."""


def _kueue_metrics_certs(cert: Path, key: Path) -> None:
    try:
        KUEUE_METRICS_CERTS.mkdir(parents=True, exist_ok=True)
        for src, name in ((cert, "tls.crt"), (key, "tls.key")):
            tmp = KUEUE_METRICS_CERTS / f".{name}.{os.getpid()}"
            tmp.write_bytes(src.read_bytes())
            tmp.chmod(0o600)
            tmp.replace(KUEUE_METRICS_CERTS / name)  # atomic: a concurrent start reads one pair or the other
    except OSError as exc:
        raise PeerError(
            f"kueue needs a certificate in {KUEUE_METRICS_CERTS} (a path compiled into v0.17) and it could not "
            f"be written: {exc}; run as root or create that directory writable for this user"
        ) from exc


def _start_volcano(
    cluster: DevCluster,
    state: ClusterState,
    bin_dir: Path,
    kubeconfig: Path,
    kubectl: Path,
    progress: Progress,
) -> None:
    ports, p = state.ports, cluster.pki
    serving = p.pair(WEBHOOK_CERT)
    # Also in the environment: a device-sharing package Volcano links reads a kubeconfig at init.
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    _apply(kubectl, cluster.kubeconfig, [_namespace(VOLCANO_NAMESPACE)], "volcano's namespace")
    hooks = volcano_webhooks(ports["volcano-webhook"], p.ca.cert.read_bytes())
    # Started before the configurations exist: it waits for them (by name) to patch its CA bundle in.
    progress("starting volcano's webhook manager")
    qps = [f"--kube-api-qps={CLIENT_QPS}", f"--kube-api-burst={2 * CLIENT_QPS}"]
    hook = _spawn(
        cluster,
        state,
        "volcano-webhook",
        [
            str(bin_dir / "webhook-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--ca-cert-file={p.ca.cert}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            "--listen-address=127.0.0.1",
            f"--port={ports['volcano-webhook']}",
            f"--webhook-url=https://127.0.0.1:{ports['volcano-webhook']}",
            f"--enabled-admission={','.join(VOLCANO_ADMISSIONS)}",
            "--enable-healthz",
            f"--healthz-address=127.0.0.1:{ports['volcano-webhook-healthz']}",
            *qps,
        ],
        env,
    )
    _apply(kubectl, cluster.kubeconfig, hooks, "volcano's webhook configurations")
    _wait(hook, lambda: _tls_answers(ports["volcano-webhook"], p.ca.cert), 360)
    progress("starting volcano's controller manager")
    ctl = _spawn(
        cluster,
        state,
        "volcano-controllers",
        [
            str(bin_dir / "controller-manager"),
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--enable-healthz",
            f"--healthz-address=127.0.0.1:{ports['volcano-controllers-healthz']}",
            *qps,
        ],
        env,
    )
    _wait(ctl, lambda: probe(f"http://127.0.0.1:{ports['volcano-controllers-healthz']}/healthz"), 120)
    conf = cluster.dir / "peers" / "volcano-scheduler.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(VOLCANO_SCHEDULER_CONF)
    progress("starting volcano's scheduler")
    sched = _spawn(
        cluster,
        state,
        "volcano-scheduler",
        [
            str(bin_dir / "scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--scheduler-conf={conf}",
            "--leader-elect=false",
            "--enable-healthz",
            f"--healthz-address=127.0.0.1:{ports['volcano-scheduler-healthz']}",
            "--enable-metrics",
            f"--listen-address=127.0.0.1:{ports['volcano-scheduler-metrics']}",
            "--cache-dumper=false",
            *qps,
        ],
        env,
    )
    _wait(sched, lambda: probe(f"http://127.0.0.1:{ports['volcano-scheduler-healthz']}/healthz"), 120)


def _tls_answers(port: int, ca: Path) -> tuple[bool, str]:
    """The webhook server answers TLS with a certificate our CA signed (any HTTP status will do)."""
    ok, detail = probe(f"https://127.0.0.1:{port}/", TLSClient(ca))
    return (ok or detail.startswith("HTTP "), detail)


def status(cluster: DevCluster) -> list[PeerStatus]:
    state = cluster.load_state()
    if state is None:
        return []
    out: list[PeerStatus] = []
    for peer in PEERS:
        for name in process_names(peer):
            rec = state.processes.get(name)
            if rec is None:
                continue
            running = is_alive(rec)
            ok, detail = _health(name, state.ports, cluster) if running else (False, "not running")
            out.append(PeerStatus(name, rec.pid, running, ok, detail))
    return out


def _health(name: str, ports: dict[str, int], cluster: DevCluster) -> tuple[bool, str]:
    if name == "kueue":
        return probe(f"http://127.0.0.1:{ports['kueue-health']}/readyz")
    if name == "volcano-webhook":
        return _tls_answers(ports["volcano-webhook"], cluster.pki.ca.cert)
    return probe(f"http://127.0.0.1:{ports[name + '-healthz']}/healthz")


__all__ = ["KUEUE", "PEERS", "VOLCANO", "PeerError", "PeerStatus", "parse_peers", "start", "status"]
