"""A real node beside the kwok ones: the pinned kubelet and kube-proxy, containerd and runc, a CNI bridge.

What it takes, and why (probed on the project's VMs, see ``docs/devcluster.md``):

- the kubelet runs with ``failCgroupV1: false`` and the cgroupfs driver, because these hosts still use
  cgroup v1, which kubelet 1.35 otherwise refuses;
- containerd's CRI sets ``restrict_oom_score_adj``: without CAP_SYS_RESOURCE runc cannot lower a
  sandbox's ``oom_score_adj`` and every pod sandbox fails ("can't get final child's PID from pipe");
- the node IP is a /32 added to ``lo`` (:data:`NODE_IP`): the kubelet refuses a loopback node IP, and without
  an InternalIP the API server cannot reach it for logs/exec. The API server prefers InternalIP and calls the
  kubelet with a client certificate (:mod:`motherboard.devcluster.cluster`);
- kube-proxy (iptables mode, :func:`kube_proxy_argv`) implements every other Service's ClusterIP and
  NodePort on this host, balancing over the ready endpoints of its EndpointSlices: from this host, whose
  connections it masquerades to the bridge address, and from pods on the bridge (``br_netfilter`` with
  ``bridge-nf-call-iptables=1`` undoes the DNAT on replies that stay on the bridge). It changes no sysctl:
  conntrack limits are left as they are and NodePorts listen on the node IP only;
- pods reach the API server through the in-cluster ``kubernetes`` Service, which kube-proxy cannot serve: its
  endpoint is the API server's loopback address, which an EndpointSlice may not hold (the endpoint
  reconciler is ``none``). So DNAT rules map ``10.96.0.1:443``, from the bridge and from this host
  (host-network pods), to the API server's loopback port, which ``route_localnet`` on the bridge allows.
  kube-proxy's nat chains have no rule for an endpoint-less Service, so the DNAT after them applies, and
  its filter REJECT for ``10.96.0.1`` never matches the already-rewritten packets;
- everything host-wide (the device-plugin socket directory the kubelet hard-codes, the ``kubepods`` cgroups,
  the kubelet's and kube-proxy's iptables chains, ``/run/containerd``) allows one real-node cluster per machine: a lock in
  :data:`HOST_DIR` says whose it is, and a record written *before* each host change lets ``down`` undo all
  of them, also after the process that ran ``up`` died.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from motherboard.devcluster.paths import cache_dir
from motherboard.devcluster.procs import ProcessRecord, is_alive, spawn, stop

Progress = Callable[[str], None]

NODE_IP = "10.250.0.1"
"""The real node's InternalIP, on ``lo``: outside 127/8 so the kubelet accepts it, reachable from this host
(and from pods, through their gateway) only."""
BRIDGE = "mbr0"
POD_SUBNET = "10.244.0.0/24"
BRIDGE_IP = "10.244.0.1"
KUBERNETES_SERVICE_PORT = 443
HOST_DIR = Path("/run/motherboard")
"""Machine-wide: the lock, the owner's record of host changes and containerd's sockets (tmpfs, so a reboot,
which also undoes addresses and iptables, clears them)."""
KUBELET_HOST_DIR = Path("/var/lib/kubelet")
"""The kubelet creates ``device-plugins/`` here whatever its ``--root-dir`` says."""
PLUGIN_STATE_DIR = Path("/var/lib/motherboard")
"""The simulated device plugin DaemonSet's hostPath state."""
CONTAINERD_RUN_DIR = Path("/run/containerd")
"""containerd 1.6 puts shim sockets and FIFOs here whatever its ``state`` says."""
IPTABLES_COMMENT = "motherboard-real-node"
KUBELET_CHAIN_PREFIXES = ("KUBE-",)
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback")
CGROUP_ROOT = Path("/sys/fs/cgroup")
NODE_NAME_PREFIX = "realnode"


class RealNodeError(RuntimeError):
    """A real node cannot run on this host, or did not come up."""


def node_name(index: int) -> str:
    return f"{NODE_NAME_PREFIX}-{index}"


# --- can this host run one? ----------------------------------------------------------------------------------
def missing_requirements() -> list[str]:
    """What this host lacks for a real node, as short phrases (empty: it can run one)."""
    missing: list[str] = []
    if os.uname().sysname != "Linux":
        return ["Linux (the kubelet and containerd run on Linux only)"]
    if os.geteuid() != 0:
        missing.append("root (containerd, runc, network and cgroup set-up need it)")
    if not (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").is_file():
        missing.append(f"cgroups (no memory controller under {CGROUP_ROOT})")
    tools = {
        "containerd": "containerd",
        "ctr": "containerd",
        "runc": "runc",
        "iptables": "iptables",
        "ip": "iproute2",
        "umoci": "umoci",
        "mmdebstrap": "mmdebstrap",
        "go": "Go",
    }
    absent = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if any(not (CNI_BIN_DIR / p).is_file() for p in CNI_PLUGINS):
        absent.append("containernetworking-plugins")
    if absent:
        missing.append("the packages " + ", ".join(absent) + " (`make system-packages`)")
    return missing


def check_host() -> None:
    missing = missing_requirements()
    if missing:
        raise RealNodeError("this host cannot run a real node: missing " + "; ".join(missing))


# --- the machine-wide record of host changes ---------------------------------------------------------------------
@dataclass
class HostRecord:
    """Who owns this machine's real node and every host change made for it (written before each change)."""

    cluster_dir: str
    node_ip: str | None = None
    bridge: str | None = None
    iptables_rules: list[list[str]] = field(default_factory=list)
    """Our rules, as ``-t TABLE -A CHAIN …`` argument lists (deleted with ``-D``)."""
    preexisting_chains: dict[str, list[str]] = field(default_factory=dict)
    """Chains per table before the kubelet started: any other ``KUBE-*`` chain is the kubelet's to remove."""
    created_paths: list[str] = field(default_factory=list)
    containerd_address: str | None = None

    @staticmethod
    def path() -> Path:
        return HOST_DIR / "real-node.json"

    @classmethod
    def load(cls) -> HostRecord | None:
        try:
            data = json.loads(cls.path().read_text())
        except FileNotFoundError:
            return None
        except ValueError:  # half-written by a crash: no change can be recorded in it, start afresh
            return None
        return cls(**data)

    def save(self) -> None:
        HOST_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.path().with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2))
        tmp.replace(self.path())


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Serialise taking and releasing the machine's real node (held for seconds, not for the cluster's life)."""
    HOST_DIR.mkdir(parents=True, exist_ok=True)
    with (HOST_DIR / "real-node.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _owner_alive(record: HostRecord) -> bool:
    """Whether the cluster that owns the record still runs any of its processes."""
    try:
        state = json.loads((Path(record.cluster_dir) / "state.json").read_text())
    except (OSError, ValueError):
        return False
    procs = [ProcessRecord.from_json(p) for p in state.get("processes", {}).values()]
    return any(is_alive(p) for p in procs)


def owner_elsewhere(cluster_dir: Path) -> str | None:
    """The state directory of another, live cluster that holds this machine's real node, if any."""
    record = HostRecord.load()
    if record is None or record.cluster_dir == str(cluster_dir.resolve()) or not _owner_alive(record):
        return None
    return record.cluster_dir


def claim_host(cluster_dir: Path, progress: Progress) -> HostRecord:
    """Make this cluster the machine's real-node owner, cleaning up after a dead owner first."""
    with host_lock():
        record = HostRecord.load()
        if record is not None and record.cluster_dir != str(cluster_dir):
            if _owner_alive(record):
                raise RealNodeError(
                    f"a real node already runs on this machine, for the dev cluster in {record.cluster_dir} "
                    "(one per machine: the kubelet's device-plugin directory is fixed); stop it with "
                    f"`motherboard dev-cluster down --state-dir {record.cluster_dir}`"
                )
            progress(f"cleaning up the real node of a dead dev cluster ({record.cluster_dir})")
            undo_host_changes(record, progress)
        elif record is not None:
            undo_host_changes(record, progress)  # our own leftovers (an `up` that crashed)
        record = HostRecord(cluster_dir=str(cluster_dir))
        record.save()
        return record


def release_host(cluster_dir: Path, progress: Progress) -> bool:
    """Undo every recorded host change if this cluster owns them; True if it did."""
    with host_lock():
        record = HostRecord.load()
        if record is None or record.cluster_dir != str(cluster_dir):
            return False
        undo_host_changes(record, progress)  # raises, keeping the record, if anything is left
        record.path().unlink(missing_ok=True)
        return True


# --- host commands ---------------------------------------------------------------------------------------------
def _sh(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RealNodeError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


IPTABLES = ("iptables", "ip6tables")
"""The kubelet sets up its canary and firewall chains for both families."""
TABLES = ("filter", "nat", "mangle")


def _chains(table: str, cmd: str = "iptables") -> list[str]:
    if shutil.which(cmd) is None:
        return []
    out = _sh([cmd, "-t", table, "-S"], check=False).stdout
    return [line.split()[1] for line in out.splitlines() if line.startswith(("-N ", "-P "))]


def _all_chains() -> dict[str, list[str]]:
    """``{"iptables/nat": [...], ...}``: every chain of both families, before the kubelet adds its own."""
    return {f"{cmd}/{table}": _chains(table, cmd) for cmd in IPTABLES for table in TABLES}


def _mounts_under(roots: list[Path]) -> list[str]:
    """Mount points at or under any of ``roots``, deepest first."""
    found: list[str] = []
    prefixes = [str(r.resolve()) for r in roots if r.exists()]
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if any(point == p or point.startswith(p + "/") for p in prefixes):
                found.append(point)
    return sorted(set(found), key=lambda p: (p.count("/"), p), reverse=True)


def mounts_under(path: Path) -> list[str]:
    return _mounts_under([path])


def _kill_pids(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _kubepods_cgroups() -> list[Path]:
    """Every ``kubepods`` cgroup directory (v1: one per controller; v2: one), deepest first."""
    roots = [CGROUP_ROOT / "kubepods"] if (CGROUP_ROOT / "cgroup.controllers").is_file() else []
    if not roots and CGROUP_ROOT.is_dir():
        roots = [c / "kubepods" for c in CGROUP_ROOT.iterdir() if (c / "kubepods").is_dir()]
    dirs: list[Path] = []
    for root in roots:
        if root.is_dir():
            dirs += [Path(d) for d, _, _ in os.walk(root)]
    return sorted(set(dirs), key=lambda p: len(p.parts), reverse=True)


def _cgroup_pids(dirs: list[Path]) -> set[int]:
    pids: set[int] = set()
    for d in dirs:
        for name in ("cgroup.procs", "tasks"):
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(x) for x in (d / name).read_text().split()}
    return pids


def _shim_pids(address: str) -> set[int]:
    """containerd shims serving ``address`` (they run in their own sessions and outlive containerd)."""
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and address.encode() in argv:
                pids.add(int(entry.name))
    return pids


def host_leftovers(record: HostRecord) -> list[str]:
    """What of the recorded host changes is still there (empty: all undone)."""
    left: list[str] = []
    roots = [Path(record.cluster_dir), KUBELET_HOST_DIR, CONTAINERD_RUN_DIR, HOST_DIR, containerd_root()]
    mounts = _mounts_under(roots)
    if mounts:
        left.append(f"{len(mounts)} mounts (e.g. {mounts[0]})")
    if (
        record.node_ip
        and f" {record.node_ip}/" in _sh(["ip", "-4", "addr", "show", "dev", "lo"], check=False).stdout
    ):
        left.append(f"the address {record.node_ip} on lo")
    if record.bridge and _sh(["ip", "link", "show", record.bridge], check=False).returncode == 0:
        left.append(f"the bridge {record.bridge}")
    rules = [
        r for r in record.iptables_rules if _sh(["iptables", *_as_check(r)], check=False).returncode == 0
    ]
    if rules:
        left.append(f"{len(rules)} iptables rules ({IPTABLES_COMMENT})")
    chains = _new_kube_chains(record.preexisting_chains)
    if chains:
        left.append(f"{len(chains)} kubelet/kube-proxy iptables chains (e.g. {chains[0]})")
    if _kubepods_cgroups():
        left.append("the kubepods cgroups")
    return left


def undo_host_changes(record: HostRecord, progress: Progress) -> None:
    """Remove everything a real node leaves on the host. Idempotent; each step tolerates a missing piece.

    Raises :class:`RealNodeError` naming what is left when a step could not be undone (not root, a busy
    mount), so the record is kept and the next ``down`` tries again.
    """
    # 1. Containers: their processes (in the kubepods cgroups) and the shims holding them.
    cgroups = _kubepods_cgroups()
    for _ in range(3):
        pids = _cgroup_pids(cgroups) | (
            _shim_pids(record.containerd_address) if record.containerd_address else set()
        )
        if not pids:
            break
        _kill_pids(pids)
        time.sleep(0.3)
    # 2. Mounts: sandbox shm, projected-token tmpfs, overlay rootfs, netns, the kubelet's self bind mount.
    roots = [Path(record.cluster_dir), KUBELET_HOST_DIR, CONTAINERD_RUN_DIR, HOST_DIR, containerd_root()]
    for point in _mounts_under(roots):
        if _sh(["umount", point], check=False).returncode != 0:
            _sh(["umount", "-l", point], check=False)
    # 3. Network: the bridge (veths die with their netns), our DNAT, the kubelet's chains, the lo address.
    if record.bridge:
        _sh(["ip", "link", "del", record.bridge], check=False)
    for rule in record.iptables_rules:
        while _sh(["iptables", *_as_delete(rule)], check=False).returncode == 0:
            pass
    _remove_kubelet_chains(record.preexisting_chains)
    if record.node_ip:
        _sh(["ip", "addr", "del", f"{record.node_ip}/32", "dev", "lo"], check=False)
    # 4. Cgroups, deepest first (they are empty now).
    for d in _kubepods_cgroups():
        with contextlib.suppress(OSError):
            d.rmdir()
    # 5. Directories that did not exist before.
    for path in record.created_paths:
        if Path(path).exists() and not _mounts_under([Path(path)]):
            shutil.rmtree(path, ignore_errors=True)
    left = host_leftovers(record)
    if left:
        raise RealNodeError(
            "could not undo every host change of the real node: " + "; ".join(left) + " are left "
            "(run `motherboard dev-cluster down` again as root)"
        )
    progress("  real node: host changes undone (mounts, bridge, iptables, lo address, cgroups)")


def _as_delete(rule: list[str]) -> list[str]:
    return ["-D" if arg == "-A" else arg for arg in rule]


def _as_check(rule: list[str]) -> list[str]:
    return ["-C" if arg == "-A" else arg for arg in rule]


def _new_kube_chains(preexisting: dict[str, list[str]]) -> list[str]:
    """``iptables/nat/KUBE-SERVICES``-style names of the ``KUBE-*`` chains that were not there before."""
    if not preexisting:  # no snapshot yet: nothing of ours can have been added
        return []
    return [
        f"{cmd}/{table}/{chain}"
        for cmd in IPTABLES
        for table in TABLES
        for chain in _chains(table, cmd)
        if chain.startswith(KUBELET_CHAIN_PREFIXES) and chain not in preexisting.get(f"{cmd}/{table}", [])
    ]


def _remove_kubelet_chains(preexisting: dict[str, list[str]]) -> None:
    """The kubelet's and kube-proxy's chains (``KUBE-*``, both families), with every jump into them."""
    for cmd in IPTABLES:
        for table in TABLES:
            before = set(preexisting.get(f"{cmd}/{table}", []))
            chains = _chains(table, cmd)
            ours = [c for c in chains if c.startswith(KUBELET_CHAIN_PREFIXES) and c not in before]
            if not ours:
                continue
            # Jumps into the kubelet's chains from other chains go first, then the chains themselves.
            for line in _sh([cmd, "-t", table, "-S"], check=False).stdout.splitlines():
                parts = shlex.split(line)  # kube-proxy's jumps carry quoted comments with spaces
                jumps_in = parts[:1] == ["-A"] and "-j" in parts and parts[parts.index("-j") + 1] in ours
                if jumps_in and parts[1] not in ours:
                    _sh([cmd, "-t", table, "-D", *parts[1:]], check=False)
            for chain in ours:
                _sh([cmd, "-t", table, "-F", chain], check=False)
            for chain in ours:
                _sh([cmd, "-t", table, "-X", chain], check=False)


# --- containerd ------------------------------------------------------------------------------------------------
def containerd_root() -> Path:
    """containerd's content and snapshots, kept between clusters so imported images stay unpacked."""
    return cache_dir() / "real-node" / "containerd"


def containerd_address() -> str:
    return str(HOST_DIR / "containerd" / "containerd.sock")


def ctr() -> list[str]:
    return ["ctr", "--address", containerd_address()]


def containerd_config(node_dir: Path, sandbox_image: str) -> str:
    run = HOST_DIR / "containerd"
    return f"""\
version = 2
root = "{containerd_root()}"
state = "{run / "state"}"
[grpc]
  address = "{containerd_address()}"
[ttrpc]
  address = "{run / "containerd.sock.ttrpc"}"
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    # Imported from the cache (images.py), under the name CRI would otherwise pull.
    sandbox_image = "{sandbox_image}"
    enable_selinux = false
    disable_apparmor = true
    # No CAP_SYS_RESOURCE on these VMs: runc may not lower oom_score_adj, so clamp requests to ours.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "{run / "runc"}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{CNI_BIN_DIR}"
      conf_dir = "{node_dir / "cni" / "conf"}"
"""


def cni_conflist(node_dir: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "motherboard-real-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                # No masquerading and no forwarding: pods talk to this host (the API server, the node IP)
                # and to each other, never beyond it.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": BRIDGE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node_dir / "cni" / "ipam"),
                },
            }
        ],
    }


# --- the kubelet -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSpec:
    """One real node as the kubelet is told about it."""

    name: str
    labels: dict[str, str]
    taints: tuple[str, ...]
    """``key=value:Effect`` as ``--register-with-taints`` takes them."""
    max_pods: int


def kubelet_config(node_dir: Path, ca: Path, ports: dict[str, int], spec: NodeSpec) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # These VMs run cgroup v1, which kubelet 1.35 refuses unless told otherwise; harmless on v2.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{containerd_address()}",
        "address": NODE_IP,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet-healthz"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "podLogsDir": str(node_dir / "pod-logs"),
        "failSwapOn": False,
        "serializeImagePulls": False,
        # A shared developer machine's disk is often fuller than the defaults (10-15 %) allow.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        # The images come from the cache, not a registry: garbage-collecting them would break the next pod.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "maxPods": spec.max_pods,
        # Allocatable changes (a device plugin registering) reach the Node within seconds, not 10-60 s.
        "nodeStatusUpdateFrequency": "2s",
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "staticPodPath": "",
        "resolvConf": "/etc/resolv.conf",
    }


def kubelet_argv(kubelet: Path, node_dir: Path, kubeconfig: Path, spec: NodeSpec) -> list[str]:
    argv = [
        str(kubelet),
        f"--config={node_dir / 'kubelet.yaml'}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={node_dir / 'kubelet'}",
        f"--cert-dir={node_dir / 'kubelet-pki'}",
        f"--hostname-override={spec.name}",
        f"--node-ip={NODE_IP}",
        "--v=1",
    ]
    if spec.labels:
        argv.append("--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(spec.labels.items())))
    if spec.taints:
        argv.append("--register-with-taints=" + ",".join(spec.taints))
    return argv


# --- kube-proxy --------------------------------------------------------------------------------------------------
KUBE_PROXY_USER = "system:kube-proxy"
"""The user Kubernetes' bootstrap RBAC binds to ``system:node-proxier`` (watch Services, EndpointSlices, Nodes)."""


def kube_proxy_argv(kube_proxy: Path, kubeconfig: Path, node: str, ports: dict[str, int]) -> list[str]:
    """kube-proxy in iptables mode for the real node, touching no host setting beyond its own chains.

    - ``--cluster-cidr`` with ``ClusterCIDR`` local detection: traffic from outside the pod subnet (this host)
      is masqueraded to the bridge address, so pods answer through the host and the DNAT is undone;
    - ``--conntrack-*=0``: leave the host's conntrack table size and timeouts alone (no sysctl writes, which
      the VMs' missing capabilities could refuse and which ``down`` would have to restore);
    - ``--nodeport-addresses=primary``: NodePorts on the node IP only, so no ``route_localnet`` on every
      interface for localhost NodePorts;
    - health and metrics on loopback ports of their own (the defaults 10256/10249 would clash with another
      kube-proxy on the machine).
    """
    return [
        str(kube_proxy),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={POD_SUBNET}",
        "--detect-local-mode=ClusterCIDR",
        "--nodeport-addresses=primary",
        "--iptables-localhost-nodeports=false",
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0s",
        "--conntrack-tcp-timeout-close-wait=0s",
        f"--healthz-bind-address=127.0.0.1:{ports['kube-proxy']}",
        f"--metrics-bind-address=127.0.0.1:{ports['kube-proxy-metrics']}",
        "--v=1",
    ]


def wait_kube_proxy(rec: ProcessRecord, healthz_port: int, timeout_s: float = 60) -> None:
    """Until kube-proxy's ``/healthz`` says it has programmed the rules (it answers 503 before the first sync)."""
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{healthz_port}/healthz"
    deadline = time.monotonic() + timeout_s
    detail = "no answer"
    while time.monotonic() < deadline:
        if not is_alive(rec):
            tail = Path(rec.log).read_text(errors="replace").strip().splitlines()[-5:]
            raise RealNodeError("kube-proxy exited during start-up; last log lines:\n  " + "\n  ".join(tail))
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}"
        except OSError as exc:
            detail = str(exc)
        time.sleep(0.2)
    raise RealNodeError(f"kube-proxy not healthy after {timeout_s:.0f}s ({url}: {detail}); see {rec.log}")


def service_chains() -> list[str]:
    """kube-proxy's per-Service chains in the nat table (``KUBE-SVC-*``), as programmed now."""
    return [c for c in _chains("nat") if c.startswith("KUBE-SVC-")]


def socket_answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


# --- bring-up steps (the DevCluster calls them in order, recording before changing) ----------------------------
def setup_host_network(record: HostRecord, apiserver_port: int) -> None:
    """The lo address, the bridge with ``route_localnet`` and the DNAT for the ``kubernetes`` Service."""
    record.preexisting_chains = _all_chains()
    record.node_ip = NODE_IP
    record.save()
    if NODE_IP not in _sh(["ip", "-4", "addr", "show", "dev", "lo"]).stdout:
        _sh(["ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo"])
    record.bridge = BRIDGE
    record.save()
    _sh(["ip", "link", "add", BRIDGE, "type", "bridge"], check=False)  # may exist from a crashed run
    _sh(["ip", "addr", "replace", f"{BRIDGE_IP}/24", "dev", BRIDGE])
    _sh(["ip", "link", "set", BRIDGE, "up"])
    # Lets DNATed packets from the bridge reach 127.0.0.1 (kube-proxy does the same for localhost NodePorts).
    Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet").write_text("1\n")
    from motherboard.devcluster.cluster import KUBERNETES_SERVICE_IP  # no import cycle at module load

    # From pods on the bridge (PREROUTING) and from this host, i.e. host-network pods (OUTPUT): without the
    # second rule their packets for the VIP would follow the default route off the machine.
    for chain, match in (("PREROUTING", ["-i", BRIDGE]), ("OUTPUT", [])):
        rule = [
            "-t", "nat", "-A", chain, *match, "-d", f"{KUBERNETES_SERVICE_IP}/32", "-p", "tcp",
            "--dport", str(KUBERNETES_SERVICE_PORT), "-m", "comment", "--comment", IPTABLES_COMMENT,
            "-j", "DNAT", "--to-destination", f"127.0.0.1:{apiserver_port}",
        ]  # fmt: skip
        record.iptables_rules.append(rule)
        record.save()
        _sh(["iptables", *rule])


def record_created(record: HostRecord, *paths: Path) -> None:
    """Remember the paths that do not exist yet, so ``down`` removes exactly those."""
    for path in paths:
        if not path.exists() and str(path) not in record.created_paths:
            record.created_paths.append(str(path))
    record.save()


def start_containerd(record: HostRecord, node_dir: Path, log: Path, sandbox_image: str) -> ProcessRecord:
    record_created(record, CONTAINERD_RUN_DIR, HOST_DIR / "containerd")
    record.containerd_address = containerd_address()
    record.save()
    (HOST_DIR / "containerd").mkdir(parents=True, exist_ok=True)
    containerd_root().mkdir(parents=True, exist_ok=True)
    config = node_dir / "containerd.toml"
    config.write_text(containerd_config(node_dir, sandbox_image))
    return spawn("containerd", ["containerd", "--config", str(config)], log)


def wait_containerd(rec: ProcessRecord, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(rec):
            raise RealNodeError(f"containerd exited during start-up; see {rec.log}")
        if socket_answers(containerd_address()) and _sh([*ctr(), "version"], check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise RealNodeError(f"containerd did not answer within {timeout_s:.0f}s; see {rec.log}")


def write_node_files(node_dir: Path, ca: Path, ports: dict[str, int], spec: NodeSpec) -> None:
    (node_dir / "cni" / "conf").mkdir(parents=True, exist_ok=True)
    (node_dir / "cni" / "conf" / "10-motherboard.conflist").write_text(json.dumps(cni_conflist(node_dir)))
    (node_dir / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(node_dir, ca, ports, spec)))


def cleanup_containers(progress: Progress) -> None:
    """With the kubelet stopped and containerd still up: remove every CRI task and container it holds."""
    if not socket_answers(containerd_address()):
        return
    base = [*ctr(), "-n", "k8s.io"]
    tasks = _sh([*base, "tasks", "ls", "-q"], check=False).stdout.split()
    for task in tasks:
        _sh([*base, "tasks", "kill", "-s", "SIGKILL", task], check=False)
    for task in tasks:
        _sh([*base, "tasks", "delete", "-f", task], check=False)
    containers = _sh([*base, "containers", "ls", "-q"], check=False).stdout.split()
    if containers:
        _sh([*base, "containers", "rm", *containers], check=False)
    if tasks or containers:
        progress(f"  removed {len(tasks)} tasks and {len(containers)} containers from containerd")


def stop_process(rec: ProcessRecord | None) -> bool:
    return rec is not None and stop(rec, grace_s=10)
