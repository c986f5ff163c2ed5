"""The pinned Go tool modules and the build cache (no real Go build: a fake `go` stands in)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from motherboard.devcluster import build
from motherboard.devcluster.build import TOOLS, BuildError, GoTool, build_tool, ensure_binaries, is_built

TOOLS_DIR = Path(__file__).resolve().parents[3] / "hack" / "tools"
K8S_STAGING = [
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "sample-cli-plugin",
    "sample-controller",
]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_python_pins_match_the_go_tool_modules(tool: GoTool) -> None:
    gomod = (TOOLS_DIR / tool.name / "go.mod").read_text()
    assert re.search(rf"^(require\s+|\t){re.escape(tool.module)} {re.escape(tool.version)}$", gomod, re.M), (
        gomod[:300]
    )
    assert (TOOLS_DIR / tool.name / "go.sum").stat().st_size > 0
    tools_go = (TOOLS_DIR / tool.name / "tools.go").read_text()
    assert tools_go.startswith("//go:build tools\n")
    for package in tool.binaries.values():
        assert f'_ "{package}"' in tools_go


def test_kubernetes_module_replaces_every_staging_module_with_its_tag() -> None:
    gomod = (TOOLS_DIR / "kubernetes" / "go.mod").read_text()
    minor_patch = build.K8S_VERSION.removeprefix("v1.")
    for name in K8S_STAGING:
        assert f"k8s.io/{name} => k8s.io/{name} v0.{minor_patch}\n" in gomod, name


def test_kubernetes_binaries_are_stamped_with_the_release_version() -> None:
    (k8s,) = [t for t in TOOLS if t.name == "kubernetes"]
    flags = " ".join(build.build_command(k8s, Path("/out")))
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion={build.K8S_VERSION}" in flags
        assert f"-X {pkg}.gitMinor=35" in flags
    assert "-tags selinux,notest" in flags
    assert k8s.cache_key == "k8s-v1.35.4"


def _fake_go(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text("#!/bin/sh\n" + body)
    go.chmod(go.stat().st_mode | stat.S_IEXEC)


# A `go build` stand-in that names outputs as Go does: `-o FILE` is the binary; `-o DIR/` gets one binary per
# package, named by the package path's last element less a major-version suffix (`.../server/v3` → server).
FAKE_GO_OK = """
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
echo "compiling..."
case "$out" in
  */) for a in "$@"; do case "$a" in *.*/*)
        name=$(basename "$a"); case "$name" in v[0-9]*) name=$(basename "$(dirname "$a")");; esac
        touch "$out$name";; esac; done;;
  *) touch "$out";;
esac
"""


def test_build_is_done_once_into_a_version_keyed_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_go(tmp_path / "gobin", FAKE_GO_OK + 'echo run >> "$HOME_RUNS"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'gobin'}:/usr/bin:/bin")
    monkeypatch.setenv("HOME_RUNS", str(tmp_path / "runs"))
    tool = GoTool(
        name="kwok", module="sigs.k8s.io/kwok", version="v9.9.9", binaries={"kwok": "x.io/cmd/kwok"}
    )
    lines: list[str] = []
    bin_dir = build_tool(tool, lines.append, root=tmp_path / "cache")
    assert bin_dir == tmp_path / "cache" / "kwok-v9.9.9" / "bin" and (bin_dir / "kwok").is_file()
    assert any("compiling" in line for line in lines) and any(line.startswith("built kwok") for line in lines)
    build_tool(tool, lines.append, root=tmp_path / "cache")  # warm: no second go run
    assert (tmp_path / "runs").read_text().count("run") == 1
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == ["kwok-v9.9.9"]


def test_a_single_binary_gets_its_own_name_not_the_package_path_element(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # etcd's main package is the module root `go.etcd.io/etcd/server/v3`: `-o DIR/` would call it `server`.
    _fake_go(tmp_path / "gobin", FAKE_GO_OK)
    monkeypatch.setenv("PATH", f"{tmp_path / 'gobin'}:/usr/bin:/bin")
    (etcd,) = [t for t in TOOLS if t.name == "etcd"]
    assert f"{Path('/out') / 'etcd'}" in build.build_command(etcd, Path("/out"))
    tool = GoTool(name="etcd", module=etcd.module, version="v9.9.9", binaries=dict(etcd.binaries))
    assert (build_tool(tool, root=tmp_path / "cache") / "etcd").is_file()


def test_a_build_that_names_a_binary_otherwise_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_go(tmp_path / "gobin", FAKE_GO_OK)
    monkeypatch.setenv("PATH", f"{tmp_path / 'gobin'}:/usr/bin:/bin")
    # Two packages share a directory output; the second's path does not end in the name asked for.
    tool = GoTool(
        name="kwok",
        module="x.io/k",
        version="v9.9.9",
        binaries={"a": "x.io/cmd/a", "etcd": "go.etcd.io/etcd/server/v3"},
    )
    with pytest.raises(BuildError, match="not etcd"):
        build_tool(tool, root=tmp_path / "cache")
    assert not is_built(tool, tmp_path / "cache")


def test_failed_build_raises_with_the_compiler_output_and_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_go(tmp_path / "gobin", 'echo "module k8s.io/foo: not found" >&2; exit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'gobin'}:/usr/bin:/bin")
    tool = GoTool(
        name="kwok", module="sigs.k8s.io/kwok", version="v9.9.9", binaries={"kwok": "x.io/cmd/kwok"}
    )
    with pytest.raises(BuildError, match="not found"):
        build_tool(tool, root=tmp_path / "cache")
    assert not is_built(tool, tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_missing_go_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BuildError, match="Go toolchain is not on PATH"):
        ensure_binaries(root=tmp_path / "cache")


def test_warm_cache_needs_no_go_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for tool in TOOLS:
        tool.bin_dir(tmp_path).mkdir(parents=True)
        for name in tool.binaries:
            (tool.bin_dir(tmp_path) / name).touch()
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    bins = ensure_binaries(root=tmp_path)
    assert bins.kube_apiserver == tmp_path / "k8s-v1.35.4" / "bin" / "kube-apiserver"
    assert bins.etcd.parent.parent.name == f"etcd-{build.ETCD_VERSION}"


@pytest.mark.parametrize("tool", build.NODE_TOOLS, ids=lambda t: t.name)
def test_node_tools_come_from_the_control_planes_pinned_module(tool: build.GoTool) -> None:
    (name,) = tool.binaries
    assert tool.module_dir() == TOOLS_DIR / "kubernetes"
    gomod = (tool.module_dir() / "go.mod").read_text()
    assert f"require k8s.io/kubernetes {build.K8S_VERSION}\n" in gomod
    assert f'_ "k8s.io/kubernetes/cmd/{name}"' in (tool.module_dir() / "tools.go").read_text()
    flags = " ".join(build.build_command(tool, Path("/out")))
    assert f"-X k8s.io/component-base/version.gitVersion={build.K8S_VERSION}" in flags
    assert "-tags selinux,notest" in flags
    # A cache of its own: adding it must not make the control plane's existing caches incomplete.
    assert tool.cache_key == f"{name}-v1.35.4"
    assert all(tool.cache_key != other.cache_key for other in TOOLS)


def test_the_kubelet_is_built_only_for_real_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for tool in TOOLS:
        tool.bin_dir(tmp_path).mkdir(parents=True)
        for name in tool.binaries:
            (tool.bin_dir(tmp_path) / name).touch()
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    bins = ensure_binaries(root=tmp_path)  # no Go needed: the kubelet is not asked for
    assert bins.kubelet == tmp_path / "kubelet-v1.35.4" / "bin" / "kubelet"
    assert bins.kube_proxy == tmp_path / "kube-proxy-v1.35.4" / "bin" / "kube-proxy"
    with pytest.raises(BuildError, match="Go toolchain is not on PATH"):
        ensure_binaries(root=tmp_path, real_nodes=True)
