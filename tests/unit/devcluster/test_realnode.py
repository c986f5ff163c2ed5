"""Real nodes without starting one: the profile field, the node's labels, the host check, the configs.

Starting a kubelet needs root and changes the host; that is ``tests/integration/test_real_node.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from motherboard.devcluster import images, realnode
from motherboard.devcluster.build import binaries
from motherboard.devcluster.cli import app
from motherboard.devcluster.cluster import ClusterError, DevCluster
from motherboard.devcluster.procs import ProcessRecord, start_ticks
from motherboard.devcluster.profile import ClusterProfile

PROFILES = Path(__file__).resolve().parents[3] / "profiles"


def _profile(real: dict[str, Any]) -> ClusterProfile:
    group = {"name": "cpu", "count": 1, "cpu": 8, "memoryGiB": 32}
    return ClusterProfile.model_validate(
        {
            "kind": "ClusterProfile",
            "name": "t",
            "sites": [
                {"name": "central", "kind": "central", "region": "r", "nodeGroups": [group]},
                {
                    "name": "edge",
                    "kind": "edge",
                    "region": "e",
                    "zones": ["e-1", "e-2"],
                    "nodeGroups": [group],
                },
            ],
            "realNodes": real,
        }
    )


def test_real_nodes_default_to_none_in_the_central_site() -> None:
    profile = _profile({})
    assert profile.real_nodes.count == 0
    assert profile.real_node_site.name == "central"
    assert ClusterProfile.load(PROFILES / "demo.yaml").real_node_site.name == "edge-east"


@pytest.mark.parametrize(
    ("real", "message"),
    [
        ({"site": "moon"}, "realNodes.site 'moon' is not a site"),
        ({"site": "edge", "zone": "central-a"}, "realNodes.zone 'central-a' is not a zone of site edge"),
        ({"count": 2}, "less than or equal to 1"),
        ({"devicePlugin": "tpu"}, "should match pattern"),
    ],
)
def test_impossible_real_nodes_are_refused(real: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _profile(real)


def test_a_real_node_carries_its_sites_labels_and_the_edge_taint(tmp_path: Path) -> None:
    profile = _profile({"site": "edge", "zone": "e-2", "labels": {"team": "infra"}})
    spec = DevCluster(tmp_path).real_node_spec(profile, "realnode-0")
    assert spec.labels == {
        "motherboard.io/site": "edge",
        "motherboard.io/site-kind": "edge",
        "topology.kubernetes.io/region": "e",
        "topology.kubernetes.io/zone": "e-2",
        "motherboard.io/real-node": "true",
        "motherboard.io/device-plugin": "simulated",
        "team": "infra",
    }
    assert spec.taints == ("motherboard.io/edge=true:NoSchedule",)
    argv = realnode.kubelet_argv(Path("/k"), tmp_path, tmp_path / "kc", spec)
    assert "--register-with-taints=motherboard.io/edge=true:NoSchedule" in argv
    assert f"--node-ip={realnode.NODE_IP}" in argv and "--hostname-override=realnode-0" in argv


def test_more_real_nodes_than_a_machine_holds_fail_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="at most 1 real node per machine"):
        DevCluster(tmp_path / "state").up(_profile({}), real_nodes=2)
    assert not (tmp_path / "state").exists()


def test_a_host_that_cannot_run_a_node_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realnode.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(realnode.shutil, "which", lambda tool: None if tool == "containerd" else "/bin/x")
    result = CliRunner().invoke(app, ["up", "--real-nodes", "1", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    joined = " ".join(line.strip() for line in lines)  # rich wraps the one message at the terminal width
    assert joined.startswith("error: this host cannot run a real node: missing root")
    assert "containerd" in joined and "make system-packages" in joined
    assert not (tmp_path / "state").exists()


def test_kubelet_and_containerd_configs_carry_the_fixes_these_hosts_need(tmp_path: Path) -> None:
    spec = realnode.NodeSpec("realnode-0", {}, (), 20)
    config = realnode.kubelet_config(
        tmp_path, tmp_path / "ca.crt", {"kubelet": 1, "kubelet-healthz": 2}, spec
    )
    assert config["failCgroupV1"] is False and config["cgroupDriver"] == "cgroupfs"  # cgroup v1 hosts
    assert config["address"] == realnode.NODE_IP and config["authorization"] == {"mode": "Webhook"}
    assert config["authentication"]["anonymous"] == {"enabled": False}
    toml = realnode.containerd_config(tmp_path, images.PAUSE_REF)
    assert "restrict_oom_score_adj = true" in toml  # no CAP_SYS_RESOURCE
    assert f'sandbox_image = "{images.PAUSE_REF}"' in toml
    bridge = realnode.cni_conflist(tmp_path)["plugins"][0]
    assert bridge["bridge"] == realnode.BRIDGE and bridge["ipMasq"] is False


def test_the_api_server_dials_kubelets_only_for_real_nodes(tmp_path: Path) -> None:
    dev = DevCluster(tmp_path)
    ports = {"etcd": 1, "kube-apiserver": 2}
    kwok_only = dev._apiserver_argv(binaries(), ports)
    real = dev._apiserver_argv(binaries(), ports, real_nodes=True)
    assert not any(a.startswith("--kubelet-") for a in kwok_only)
    assert "--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP" in real
    assert any(a.startswith("--kubelet-client-certificate=") for a in real)


def test_the_project_image_takes_the_installed_dependencies_not_the_project() -> None:
    names = {d.metadata["Name"].lower() for d in images.dependency_closure()}
    assert {"pydantic", "kubernetes", "grpcio"} <= names
    assert "motherboard" not in names and "pytest" not in names  # no dev tools in the image


def test_host_record_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realnode, "HOST_DIR", tmp_path)
    record = realnode.HostRecord(cluster_dir="/c", node_ip=realnode.NODE_IP, created_paths=["/x"])
    record.save()
    assert realnode.HostRecord.load() == record
    (tmp_path / "real-node.json").write_text("{half")
    assert realnode.HostRecord.load() is None  # half-written by a crash: treated as no record


def test_one_real_node_per_machine_a_live_owner_keeps_it_a_dead_one_is_cleaned_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realnode, "HOST_DIR", tmp_path / "run")
    undone: list[str] = []
    monkeypatch.setattr(
        realnode, "undo_host_changes", lambda record, progress: undone.append(record.cluster_dir)
    )
    owner, me = tmp_path / "owner", tmp_path / "me"
    owner.mkdir()
    alive = ProcessRecord("kubelet", os.getpid(), start_ticks(os.getpid()), ("kubelet",), "log")
    (owner / "state.json").write_text(json.dumps({"ports": {}, "processes": {"kubelet": alive.to_json()}}))
    realnode.HostRecord(cluster_dir=str(owner)).save()

    assert realnode.owner_elsewhere(me) == str(owner)
    with pytest.raises(
        realnode.RealNodeError, match=f"already runs on this machine, for the dev cluster in {owner}"
    ):
        realnode.claim_host(me, progress=print)
    assert undone == [] and realnode.HostRecord.load() == realnode.HostRecord(cluster_dir=str(owner))

    (owner / "state.json").write_text(json.dumps({"ports": {}, "processes": {}}))  # the owner died
    assert realnode.owner_elsewhere(me) is None
    realnode.claim_host(me, progress=print)
    assert undone == [str(owner)]  # its host changes undone before this cluster makes its own
    assert realnode.HostRecord.load() == realnode.HostRecord(cluster_dir=str(me))
    assert realnode.release_host(owner, progress=print) is False  # not the owner any more
    assert realnode.release_host(me, progress=print) is True and realnode.HostRecord.load() is None
