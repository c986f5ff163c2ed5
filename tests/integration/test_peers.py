"""Smoke test of the peers: a tiny dev cluster ``up --peers kueue,volcano`` with kube-scheduler; one small job
each (translated from one description by bench/peers_workloads.py) runs to completion; ``down`` leaves none
of their processes behind.

Its own cluster (the session's has no peers): the peers install CRDs and webhook configurations that the
other tests should not see. On a fresh machine the fixture builds Kueue and Volcano from their pinned modules
(minutes on 2 cores; cached by version afterwards).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from motherboard.devcluster import peers
from motherboard.devcluster.cluster import DevCluster
from motherboard.devcluster.procs import is_alive
from motherboard.devcluster.profile import ClusterProfile
from motherboard.kube.config import load_access

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
TINY = """\
kind: ClusterProfile
name: tiny-peers
sites:
- name: central
  kind: central
  region: local
  nodeGroups:
  - {name: gpu, count: 2, cpu: 16, memoryGiB: 64, instanceType: hgx-h100-8, devices: {model: H100-80GB, count: 8}}
"""


def _workloads() -> Any:
    spec = importlib.util.spec_from_file_location("peers_workloads", ROOT / "bench" / "peers_workloads.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["peers_workloads"] = module
    spec.loader.exec_module(module)
    return module


pw = _workloads()


@pytest.fixture(scope="module")
def peer_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    state = tmp_path_factory.mktemp("peers-cluster")
    profile_path = state / "tiny.yaml"
    profile_path.write_text(TINY)
    dev = DevCluster(state / "dev-cluster")
    try:
        dev.up(ClusterProfile.load(profile_path), kube_scheduler=True, peers=peers.PEERS)
        yield dev
    finally:
        dev.down()


def _kubectl(dev: DevCluster) -> list[str]:
    from motherboard.devcluster.build import binaries

    return [str(binaries().kubectl), f"--kubeconfig={dev.kubeconfig}"]


def _apply(dev: DevCluster, objs: list[dict[str, Any]]) -> None:
    import subprocess

    import yaml

    text = "\n---\n".join(yaml.safe_dump(o) for o in objs)
    proc = subprocess.run(
        [*_kubectl(dev), "create", "-f", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def _get(dev: DevCluster, *args: str) -> str:
    import subprocess

    proc = subprocess.run(
        [*_kubectl(dev), "get", *args], capture_output=True, text=True, timeout=60, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _one_short_job(system: str) -> list[dict[str, Any]]:
    """A 2-pod gang with one GPU each that kwok finishes 2 s after it runs."""
    w = pw.Workload("smoke", (pw.Tenant("t", gpus=8),), (pw.Job("one", "t", pods=2, gpus=1, cpu="100m"),))
    objs: list[dict[str, Any]] = pw.translate(w, system)
    for obj in objs:
        if obj["kind"] != "Job":
            continue
        templates = (
            [t["template"] for t in obj["spec"]["tasks"]]
            if "tasks" in obj["spec"]
            else [obj["spec"]["template"]]
        )
        for template in templates:
            template.setdefault("metadata", {}).setdefault("annotations", {})[
                "motherboard.io/simulated-duration"
            ] = "2s"
    return objs


def _wait(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return
        time.sleep(1)
    raise AssertionError(f"{what} not done after {timeout_s:.0f}s: {last}")


def test_peers_are_healthy_and_use_the_dev_clusters_certificates(peer_cluster: DevCluster) -> None:
    status = {s.name: s for s in peers.status(peer_cluster)}
    assert set(status) == {"kueue", "volcano-webhook", "volcano-controllers", "volcano-scheduler"}
    assert all(s.healthy for s in status.values()), {n: s.detail for n, s in status.items()}
    # Their webhooks are served on loopback with the dev cluster's CA in the configurations.
    hooks = _get(peer_cluster, "mutatingwebhookconfigurations", "-o", "name")
    assert "kueue-mutating-webhook-configuration" in hooks
    assert "volcano-admission-service-jobs-mutate" in hooks
    bundle = _get(
        peer_cluster,
        "mutatingwebhookconfiguration",
        "volcano-admission-service-jobs-mutate",
        "-o",
        "jsonpath={.webhooks[0].clientConfig.caBundle}",
    )
    import base64

    assert base64.b64decode(bundle) == peer_cluster.pki.ca.cert.read_bytes()
    assert load_access(peer_cluster.kubeconfig).server.startswith("https://127.0.0.1:")


def test_one_kueue_job_is_admitted_and_completes(peer_cluster: DevCluster) -> None:
    _apply(peer_cluster, _one_short_job("kueue"))
    ns = "smoke-ku"

    def done() -> tuple[bool, str]:
        admitted = _get(
            peer_cluster,
            "workloads.kueue.x-k8s.io",
            "-n",
            ns,
            "-o",
            "jsonpath={.items[0].status.admission.clusterQueue}",
        )
        succeeded = _get(peer_cluster, "job", "one", "-n", ns, "-o", "jsonpath={.status.succeeded}")
        return (
            succeeded == "2" and admitted == "smoke-t",
            f"admitted to {admitted!r}, succeeded {succeeded!r}",
        )

    _wait(done, 180, "the Kueue Job")


def test_one_volcano_job_completes(peer_cluster: DevCluster) -> None:
    _apply(peer_cluster, _one_short_job("volcano"))
    ns = "smoke-vc"

    def done() -> tuple[bool, str]:
        phase = _get(
            peer_cluster, "jobs.batch.volcano.sh", "one", "-n", ns, "-o", "jsonpath={.status.state.phase}"
        )
        return phase == "Completed", f"phase {phase!r}"

    _wait(done, 180, "the Volcano job")


def test_down_stops_every_peer_process(tmp_path: Path, peer_cluster: DevCluster) -> None:
    # Last in the module: the fixture's own down is then a no-op, and this checks what it would do.
    state = peer_cluster.load_state()
    assert state is not None
    recs = [state.processes[n] for p in peers.PEERS for n in peers.process_names(p)]
    assert all(is_alive(r) for r in recs)
    stopped = peer_cluster.down()
    assert {n for p in peers.PEERS for n in peers.process_names(p)} <= set(stopped)
    assert not any(is_alive(r) for r in recs)
