"""Build the pinned control-plane binaries once into a version-keyed cache.

Each tool is a tiny Go module under ``hack/tools/<name>/`` (go.mod, go.sum and a ``tools.go`` with blank
imports) so the exact dependency graph is reviewed in the repository, while the binaries themselves live in
``${MOTHERBOARD_CACHE:-~/.cache/motherboard}/<tool>-<version>/bin/``. A cache directory is complete once it
exists: builds go to a temporary sibling that is renamed into place, so an interrupted build never leaves a
half-filled cache behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from motherboard.devcluster.paths import cache_dir, repo_root

Progress = Callable[[str], None]

K8S_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"
KUEUE_VERSION = "v0.17.0"
VOLCANO_VERSION = "v1.10.0"
"""The newest Volcano the Go module proxy serves: v1.10.1 to v1.13.1 answer 403 ("not available")."""


def _k8s_version_ldflags(version: str) -> tuple[str, ...]:
    """``-X`` flags so binaries report the real version instead of ``v0.0.0-master``.

    Helm's ``kubeVersion`` constraints and client/server skew checks read this, so it must be right.
    """
    major, minor = version.removeprefix("v").split(".")[:2]
    flags: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return tuple(flags)


@dataclass(frozen=True)
class GoTool:
    """One pinned Go module and the main packages built from it."""

    name: str
    """Directory under ``hack/tools/`` and the cache key prefix."""
    module: str
    """The module required in go.mod, checked against :attr:`version` by the unit tests."""
    version: str
    binaries: dict[str, str]
    """Binary name → main package."""
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    cache_prefix: str = ""
    module_name: str = ""
    """Directory under ``hack/tools/`` when several tools share one module (default: :attr:`name`)."""

    @property
    def cache_key(self) -> str:
        return f"{self.cache_prefix or self.name}-{self.version}"

    def bin_dir(self, root: Path | None = None) -> Path:
        return (root or cache_dir()) / self.cache_key / "bin"

    def module_dir(self) -> Path:
        return repo_root() / "hack" / "tools" / (self.module_name or self.name)


TOOLS: tuple[GoTool, ...] = (
    GoTool(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=ETCD_VERSION,
        # The server module's root package is etcd's `main` (it calls etcdmain.Main).
        binaries={"etcd": "go.etcd.io/etcd/server/v3"},
    ),
    GoTool(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=K8S_VERSION,
        cache_prefix="k8s",
        binaries={
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
            "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        },
        # The tags Kubernetes' own release builds use: SELinux label support without cgo, no test hooks.
        tags=("selinux", "notest"),
        ldflags=_k8s_version_ldflags(K8S_VERSION),
    ),
    GoTool(
        name="kwok",
        module="sigs.k8s.io/kwok",
        version=KWOK_VERSION,
        binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
    ),
    GoTool(
        name="helm",
        module="helm.sh/helm/v3",
        version=HELM_VERSION,
        binaries={"helm": "helm.sh/helm/v3/cmd/helm"},
        ldflags=(
            f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
            "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
            # The Kubernetes version `helm template` and `helm lint` assume without a cluster. Helm's Makefile
            # uses its client-go's (1.37); the dev cluster's makes offline checks match what `install` sees.
            *(f"-X helm.sh/helm/v3/pkg/{pkg}.k8sVersionMajor=1" for pkg in ("lint/rules", "chartutil")),
            *(
                f"-X helm.sh/helm/v3/pkg/{pkg}.k8sVersionMinor={K8S_VERSION.split('.')[1]}"
                for pkg in ("lint/rules", "chartutil")
            ),
        ),
    ),
)


KUBELET = GoTool(
    # The kubelet comes from the same pinned module as the control plane, so node and API server match, but
    # it is a tool of its own: only real nodes need it, and adding it to the control plane's binaries would
    # make every existing cache incomplete and rebuild all of them (minutes) for kwok-only clusters.
    name="kubelet",
    module="k8s.io/kubernetes",
    version=K8S_VERSION,
    module_name="kubernetes",
    binaries={"kubelet": "k8s.io/kubernetes/cmd/kubelet"},
    tags=("selinux", "notest"),
    ldflags=_k8s_version_ldflags(K8S_VERSION),
)
KUBE_PROXY = GoTool(
    # Implements Service ClusterIPs and NodePorts on real nodes (iptables mode); a tool of its own for the
    # same reason as the kubelet: existing caches stay complete and kwok-only clusters never build it.
    name="kube-proxy",
    module="k8s.io/kubernetes",
    version=K8S_VERSION,
    module_name="kubernetes",
    binaries={"kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy"},
    tags=("selinux", "notest"),
    ldflags=_k8s_version_ldflags(K8S_VERSION),
)
NODE_TOOLS: tuple[GoTool, ...] = (KUBELET, KUBE_PROXY)
"""Binaries a real node needs on top of :data:`TOOLS`; built by :func:`ensure_binaries` only on request."""

KUEUE = GoTool(
    name="kueue",
    module="sigs.k8s.io/kueue",
    version=KUEUE_VERSION,
    binaries={"kueue": "sigs.k8s.io/kueue/cmd/kueue"},
)
VOLCANO = GoTool(
    name="volcano",
    module="volcano.sh/volcano",
    version=VOLCANO_VERSION,
    # Several packages: each binary is named after its cmd/<name> element.
    binaries={
        "scheduler": "volcano.sh/volcano/cmd/scheduler",
        "controller-manager": "volcano.sh/volcano/cmd/controller-manager",
        "webhook-manager": "volcano.sh/volcano/cmd/webhook-manager",
    },
)
PEER_TOOLS: dict[str, GoTool] = {"kueue": KUEUE, "volcano": VOLCANO}
"""The systems benchmarked against Motherboard (``dev-cluster up --peers``, :mod:`.peers`); built on request."""


class BuildError(RuntimeError):
    """A tool could not be built (no Go toolchain, a module the proxy does not serve, a compile error)."""


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every binary the dev cluster and the tests use."""

    paths: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]

    @property
    def etcd(self) -> Path:
        return self.paths["etcd"]

    @property
    def kube_apiserver(self) -> Path:
        return self.paths["kube-apiserver"]

    @property
    def kube_controller_manager(self) -> Path:
        return self.paths["kube-controller-manager"]

    @property
    def kube_scheduler(self) -> Path:
        return self.paths["kube-scheduler"]

    @property
    def kubectl(self) -> Path:
        return self.paths["kubectl"]

    @property
    def kwok(self) -> Path:
        return self.paths["kwok"]

    @property
    def helm(self) -> Path:
        return self.paths["helm"]

    @property
    def kubelet(self) -> Path:
        return self.paths["kubelet"]

    @property
    def kube_proxy(self) -> Path:
        return self.paths["kube-proxy"]


def _silent(_: str) -> None:
    return None


def is_built(tool: GoTool, root: Path | None = None) -> bool:
    bin_dir = tool.bin_dir(root)
    return all((bin_dir / name).is_file() for name in tool.binaries)


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Serialise builds of one tool across processes (parallel test sessions, a user running `up`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError("the Go toolchain is not on PATH; install Go >= 1.25 to build the dev cluster")
    return go


def build_command(tool: GoTool, out_dir: Path) -> list[str]:
    """The `go build` invocation for a tool; every main package in one command so they share compilation.

    With one package the output is named explicitly: `go build -o DIR/` names a binary after its package
    path's last element without a major-version suffix, so etcd's `go.etcd.io/etcd/server/v3` would come out
    as `server`. Several packages need a directory, and each binary's name is its `cmd/<name>` element.
    """
    names = list(tool.binaries)
    target = out_dir / names[0] if len(names) == 1 else Path(f"{out_dir}{os.sep}")
    cmd = [_go(), "build", "-trimpath", "-o", f"{target}{os.sep if len(names) > 1 else ''}"]
    if tool.tags:
        cmd += ["-tags", ",".join(tool.tags)]
    # -s -w drop the symbol table and DWARF: the binaries are ~30% smaller and nobody debugs them here.
    cmd += ["-ldflags", " ".join(("-s", "-w", *tool.ldflags))]
    cmd += list(tool.binaries.values())
    return cmd


def build_tool(tool: GoTool, progress: Progress = _silent, root: Path | None = None) -> Path:
    """Build one tool into its cache directory unless it is already there; return its ``bin`` directory."""
    bin_dir = tool.bin_dir(root)
    if is_built(tool, root):
        return bin_dir
    with _lock(bin_dir.parent.parent / f".{tool.cache_key}.lock"):
        if is_built(tool, root):  # another process finished it while we waited for the lock
            return bin_dir
        if not (tool.module_dir() / "go.mod").is_file():
            raise BuildError(f"missing Go tool module {tool.module_dir()}/go.mod")
        # Builders hold the lock, so any staging directory left now is from a build that was killed.
        for stale in bin_dir.parent.parent.glob(f".{tool.cache_key}.*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{tool.cache_key}.", dir=bin_dir.parent.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as any other
        try:
            out = staging / "bin"
            out.mkdir()
            env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
            progress(
                f"building {tool.name} {tool.version} ({', '.join(tool.binaries)}); a cold build takes minutes"
            )
            started = time.monotonic()
            proc = subprocess.Popen(
                build_command(tool, out),
                cwd=tool.module_dir(),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None
            tail: list[str] = []
            for line in proc.stdout:
                tail = [*tail[-40:], line.rstrip()]
                progress(f"  {line.rstrip()}")
            code = proc.wait()
            if code != 0:
                how = f"was killed by signal {-code}" if code < 0 else f"failed (exit {code})"
                raise BuildError(f"building {tool.name} {tool.version} {how}:\n" + "\n".join(tail))
            missing = [name for name in tool.binaries if not (out / name).is_file()]
            if missing:
                made = ", ".join(sorted(p.name for p in out.iterdir())) or "nothing"
                raise BuildError(f"building {tool.name} {tool.version} made {made}, not {', '.join(missing)}")
            if bin_dir.parent.exists():  # leftovers of a build that was killed before this code existed
                shutil.rmtree(bin_dir.parent)
            staging.rename(bin_dir.parent)
            progress(f"built {tool.name} {tool.version} in {time.monotonic() - started:.0f}s → {bin_dir}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return bin_dir


def binaries(root: Path | None = None) -> Binaries:
    """Where every binary is (or will be) without building anything."""
    return Binaries(
        {name: tool.bin_dir(root) / name for tool in (*TOOLS, *NODE_TOOLS) for name in tool.binaries}
    )


def ensure_binaries(
    progress: Progress = _silent, root: Path | None = None, *, real_nodes: bool = False
) -> Binaries:
    """Build whatever is missing (idempotent: a warm cache returns at once) and return the paths.

    ``real_nodes`` adds the kubelet and kube-proxy (:data:`NODE_TOOLS`); without it their paths are returned
    but the binaries may not exist.
    """
    for tool in (*TOOLS, *NODE_TOOLS) if real_nodes else TOOLS:
        if is_built(tool, root):
            progress(f"{tool.name} {tool.version}: cached in {tool.bin_dir(root)}")
        else:
            build_tool(tool, progress, root)
    return binaries(root)
