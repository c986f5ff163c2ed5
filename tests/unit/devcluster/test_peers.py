"""The peers beside the dev cluster: one workload description → the same work for each system, and the
Kueue/Volcano configuration the dev cluster writes (webhooks on loopback, pinned modules)."""

from __future__ import annotations

import base64
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from motherboard.devcluster import peers
from motherboard.devcluster.build import PEER_TOOLS

ROOT = Path(__file__).resolve().parents[3]
Obj = dict[str, Any]


def _load_workloads() -> Any:
    spec = importlib.util.spec_from_file_location("peers_workloads", ROOT / "bench" / "peers_workloads.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["peers_workloads"] = module
    spec.loader.exec_module(module)
    return module


pw = _load_workloads()


def _kinds(objs: list[Obj], kind: str, api_prefix: str = "") -> list[Obj]:
    return [o for o in objs if o["kind"] == kind and o["apiVersion"].startswith(api_prefix)]


def _gpu(resources: Obj) -> int:
    return int((resources.get("limits") or {}).get(pw.GPU, "0"))


def _demand(system: str, objs: list[Obj]) -> dict[str, tuple[int, int, int, str]]:
    """job name → (pods, min available, GPUs per pod, CPU per pod) as that system will see it."""
    out: dict[str, tuple[int, int, int, str]] = {}
    if system == "motherboard":
        for job in _kinds(objs, "AIJob"):
            (task,) = job["spec"]["tasks"]
            container = task["template"]["spec"]["containers"][0]
            gpus = (task.get("devices") or {}).get("count", 0)
            if gpus:
                assert task["devices"]["vendor"] == "nvidia"  # the operator asks for a vendor or a pool
            assert _gpu(container["resources"]) == 0  # GPUs come from devices, not from the template
            out[job["metadata"]["name"]] = (
                task["replicas"],
                job["spec"]["gang"]["minAvailable"],
                gpus,
                container["resources"]["requests"]["cpu"],
            )
    elif system == "kueue":
        for job in _kinds(objs, "Job", "batch/"):
            spec = job["spec"]
            container = spec["template"]["spec"]["containers"][0]
            # Kueue admits the whole Job or none of it: its gang is the parallelism.
            out[job["metadata"]["name"]] = (
                spec["parallelism"],
                spec["parallelism"],
                _gpu(container["resources"]),
                container["resources"]["requests"]["cpu"],
            )
    else:
        for job in _kinds(objs, "Job", "batch.volcano.sh"):
            (task,) = job["spec"]["tasks"]
            container = task["template"]["spec"]["containers"][0]
            out[job["metadata"]["name"]] = (
                task["replicas"],
                job["spec"]["minAvailable"],
                _gpu(container["resources"]),
                container["resources"]["requests"]["cpu"],
            )
    return out


def _guarantees(system: str, objs: list[Obj], w: Any) -> dict[str, tuple[int, int | None]]:
    """tenant → (guaranteed GPUs, ceiling or None) as that system will enforce it."""
    out: dict[str, tuple[int, int | None]] = {}
    for t in w.tenants:
        name = w.tenant_queue(t.name)
        if system == "motherboard":
            (q,) = [o for o in _kinds(objs, "Queue", "motherboard.io") if o["metadata"]["name"] == name]
            assert q["spec"]["parent"] == w.name
            (quota,) = q["spec"]["quotas"]
            nominal = int(quota["nominal"])
            borrow = quota.get("borrowingLimit")
            out[t.name] = (nominal, None if borrow is None else nominal + int(borrow))
        elif system == "kueue":
            (cq,) = [o for o in _kinds(objs, "ClusterQueue") if o["metadata"]["name"] == name]
            assert cq["spec"]["cohortName"] == w.name
            (group,) = cq["spec"]["resourceGroups"]
            (flavor,) = group["flavors"]
            (gpu,) = [r for r in flavor["resources"] if r["name"] == pw.GPU]
            nominal = int(gpu["nominalQuota"])
            borrow = gpu.get("borrowingLimit")
            out[t.name] = (nominal, None if borrow is None else nominal + int(borrow))
        else:
            (q,) = [
                o for o in _kinds(objs, "Queue", "scheduling.volcano.sh") if o["metadata"]["name"] == name
            ]
            assert q["spec"]["reclaimable"] is True
            deserved = int(q["spec"]["deserved"][pw.GPU])
            assert "guarantee" not in q["spec"]  # a reservation nobody may borrow: not what nominal means
            cap = q["spec"].get("capability")
            out[t.name] = (deserved, None if cap is None else int(cap[pw.GPU]))
    return out


WORKLOADS = [
    pw.burst(12, tenants=3),
    pw.gangs(
        "b2", count=5, size=7, gpus=8, capacity_gpus=400, selector={"node.kubernetes.io/instance-type": "x"}
    ),
    pw.Workload(
        "mixed",
        (pw.Tenant("a", gpus=16, borrow_gpus=8, lend_gpus=4, weight=3), pw.Tenant("b", gpus=8)),
        (pw.Job("j1", "a", pods=4, gpus=2), pw.Job("j2", "b", pods=1, gpus=0, cpu="250m")),
    ),
    *pw.fairness(16, 8, {"node.kubernetes.io/instance-type": "x"}),
]


@pytest.mark.parametrize("w", WORKLOADS, ids=lambda w: f"{w.name}-{len(w.jobs)}")
def test_every_system_gets_the_same_jobs(w: Any) -> None:
    expected = {j.name: (j.pods, j.pods, j.gpus, j.cpu) for j in w.jobs}
    for system in pw.SYSTEMS:
        objs = pw.translate(w, system)
        assert _demand(system, objs) == expected, system
        ns = w.namespace(system)
        jobs = [o for o in objs if o["kind"] in ("AIJob", "Job")]
        assert {o["metadata"]["namespace"] for o in jobs} <= {ns}
        (namespace,) = [o for o in objs if o["kind"] == "Namespace"]
        assert namespace["metadata"] == {"name": ns, "labels": {pw.PEER_LABEL: system}}
    namespaces = {w.namespace(s) for s in pw.SYSTEMS}
    assert len(namespaces) == 3  # the systems never share a namespace


@pytest.mark.parametrize("w", WORKLOADS, ids=lambda w: f"{w.name}-{len(w.jobs)}")
def test_every_system_enforces_the_same_quota(w: Any) -> None:
    expected = {
        t.name: (t.gpus, None if t.borrow_gpus is None else t.gpus + t.borrow_gpus) for t in w.tenants
    }
    for system in pw.SYSTEMS:
        assert _guarantees(system, pw.translate(w, system), w) == expected, system


def test_tenants_reach_their_queue_in_each_system() -> None:
    w = WORKLOADS[2]
    mb = pw.translate(w, "motherboard")
    assert {j["metadata"]["name"]: j["spec"]["queue"] for j in _kinds(mb, "AIJob")} == {
        "j1": "mixed-a",
        "j2": "mixed-b",
    }
    (root,) = [q for q in _kinds(mb, "Queue") if "parent" not in q["spec"]]
    assert root["spec"]["quotas"] == [{"resource": pw.GPU, "nominal": "24"}]  # the cohort owns the sum
    (qa,) = [q for q in _kinds(mb, "Queue") if q["metadata"]["name"] == "mixed-a"]
    assert qa["spec"]["quotas"][0]["lendingLimit"] == "4" and qa["spec"]["weight"] == 3
    assert qa["spec"]["preemption"] == {"reclaimFromBorrowers": "Any"}

    ku = pw.translate(w, "kueue")
    jobs = _kinds(ku, "Job", "batch/")
    assert {j["metadata"]["labels"][pw.KUEUE_QUEUE_LABEL] for j in jobs} == {"mixed-a", "mixed-b"}
    assert all(j["spec"]["suspend"] is True for j in jobs)  # admission is Kueue's to give
    local = {q["metadata"]["name"]: q["spec"]["clusterQueue"] for q in _kinds(ku, "LocalQueue")}
    assert local == {"mixed-a": "mixed-a", "mixed-b": "mixed-b"}
    (cqa,) = [q for q in _kinds(ku, "ClusterQueue") if q["metadata"]["name"] == "mixed-a"]
    gpu = next(r for r in cqa["spec"]["resourceGroups"][0]["flavors"][0]["resources"] if r["name"] == pw.GPU)
    assert gpu["lendingLimit"] == "4"
    assert cqa["spec"]["preemption"]["reclaimWithinCohort"] == "Any"
    assert cqa["spec"]["fairSharing"] == {"weight": "3"}

    vc = pw.translate(w, "volcano")
    vjobs = _kinds(vc, "Job", "batch.volcano.sh")
    assert {j["metadata"]["name"]: j["spec"]["queue"] for j in vjobs} == {"j1": "mixed-a", "j2": "mixed-b"}
    assert {j["spec"]["schedulerName"] for j in vjobs} == {pw.VOLCANO_SCHEDULER}
    pod = vjobs[0]["spec"]["tasks"][0]["template"]["spec"]
    assert pod["schedulerName"] == pw.VOLCANO_SCHEDULER


def test_gang_pods_keep_their_node_selector_everywhere() -> None:
    w = WORKLOADS[1]
    for system in pw.SYSTEMS:
        objs = pw.translate(w, system)
        templates = [
            t["template"]["spec"]
            for o in objs
            if o["kind"] in ("AIJob", "Job")
            for t in (o["spec"].get("tasks") or [o["spec"]])
        ]
        assert len(templates) == 5
        assert all(t["nodeSelector"] == {"node.kubernetes.io/instance-type": "x"} for t in templates), system
        assert all(t["tolerations"] == pw.TOLERATE_ALL for t in templates), system


def test_fairness_phases_borrow_then_reclaim_the_lenders_guarantee() -> None:
    borrow, reclaim = pw.fairness(16, 8, {})
    assert {j.tenant for j in borrow.jobs} == {"borrower"}
    assert sum(j.pods * j.gpus for j in borrow.jobs) == 32  # both guarantees: half of it borrowed
    assert {j.tenant for j in reclaim.jobs} == {"lender"}
    assert sum(j.pods * j.gpus for j in reclaim.jobs) == 16  # exactly the lender's guarantee
    assert borrow.tenants == reclaim.tenants


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: pw.Workload("w", (), ()), "tenants: give at least one tenant"),
        (lambda: pw.Workload("w", (pw.Tenant("a", 1), pw.Tenant("a", 2)), ()), "tenants: names repeat"),
        (
            lambda: pw.Workload("w", (pw.Tenant("a", 1),), (pw.Job("j", "b"),)),
            "job j: tenant: 'b' is not one of a",
        ),
        (lambda: pw.Workload("w", (pw.Tenant("a", 1),), (pw.Job("j", "a", pods=0),)), "job j: pods: 0"),
        (
            lambda: pw.Workload("w", (pw.Tenant("a", 2, lend_gpus=3),), ()),
            "tenant a: lend_gpus: 3 not in 0..2",
        ),
        (
            lambda: pw.translate(pw.burst(1), "slurm"),
            "system: 'slurm' is not one of motherboard, kueue, volcano",
        ),
    ],
)
def test_bad_descriptions_name_the_field(build: Any, message: str) -> None:
    with pytest.raises(pw.WorkloadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


# --- the dev cluster's side ---------------------------------------------------------------------------------
def test_parse_peers() -> None:
    assert peers.parse_peers("kueue, Volcano,kueue") == ("kueue", "volcano")
    assert peers.parse_peers(None) == ()
    assert peers.parse_peers("") == ()
    with pytest.raises(peers.PeerError, match="--peers: unknown peer yunikorn; choose from kueue, volcano"):
        peers.parse_peers("kueue,yunikorn")


@pytest.mark.parametrize("name", sorted(PEER_TOOLS))
def test_peer_modules_pin_the_versions_build_uses(name: str) -> None:
    tool = PEER_TOOLS[name]
    gomod = (ROOT / "hack" / "tools" / name / "go.mod").read_text()
    assert (
        f"\n\t{tool.module} {tool.version}\n" in gomod or f"require {tool.module} {tool.version}\n" in gomod
    )
    assert (ROOT / "hack" / "tools" / name / "go.sum").stat().st_size > 0
    tools_go = (ROOT / "hack" / "tools" / name / "tools.go").read_text()
    for package in tool.binaries.values():
        assert f'_ "{package}"' in tools_go


def test_volcano_module_repeats_its_replace_pins() -> None:
    """Volcano imports k8s.io/kubernetes, whose staging modules resolve only through replace directives."""
    gomod = (ROOT / "hack" / "tools" / "volcano" / "go.mod").read_text()
    assert "k8s.io/api => k8s.io/api v0.30.2" in gomod
    assert "k8s.io/kubelet => k8s.io/kubelet v0.30.2" in gomod


def test_kueue_webhooks_point_at_loopback_and_keep_only_jobs_and_kueues_kinds(tmp_path: Path) -> None:
    folder = tmp_path / "config" / "components" / "webhook"
    folder.mkdir(parents=True)

    def hook(path: str) -> Obj:
        return {
            "name": path.strip("/") + ".kb.io",
            "clientConfig": {"service": {"name": "webhook-service", "namespace": "system", "path": path}},
            "rules": [],
        }

    paths = ["/mutate-batch-v1-job", "/mutate--v1-pod", "/mutate-kueue-x-k8s-io-v1beta2-clusterqueue",
             "/mutate-apps-v1-deployment"]  # fmt: skip
    docs = [
        {
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "mutating-webhook-configuration"},
            "webhooks": [hook(p) for p in paths],
        },
        {
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "validating-webhook-configuration"},
            "webhooks": [hook("/validate-batch-v1-job"), hook("/validate-apps-v1-statefulset")],
        },
    ]
    (folder / "manifests.yaml").write_text(yaml.safe_dump_all(docs))
    out = peers.kueue_webhooks(tmp_path, 4321, b"PEM")
    assert [d["metadata"]["name"] for d in out] == [
        "kueue-mutating-webhook-configuration",
        "kueue-validating-webhook-configuration",
    ]
    kept = {h["name"]: h for d in out for h in d["webhooks"]}
    assert sorted(kept) == [
        "mutate-batch-v1-job.kb.io",
        "mutate-kueue-x-k8s-io-v1beta2-clusterqueue.kb.io",
        "validate-batch-v1-job.kb.io",
    ]
    job = kept["mutate-batch-v1-job.kb.io"]
    assert job["clientConfig"] == {
        "url": "https://127.0.0.1:4321/mutate-batch-v1-job",
        "caBundle": base64.b64encode(b"PEM").decode(),
    }
    assert job["namespaceSelector"] == {"matchLabels": {"motherboard.io/peer": "kueue"}}
    assert kept["mutate-kueue-x-k8s-io-v1beta2-clusterqueue.kb.io"]["namespaceSelector"] == {}


def test_volcano_webhook_configurations_have_the_names_its_manager_waits_for() -> None:
    out = peers.volcano_webhooks(9443, b"CA")
    names = {d["metadata"]["name"]: d["kind"] for d in out}
    assert names == {
        "volcano-admission-service-jobs-mutate": "MutatingWebhookConfiguration",
        "volcano-admission-service-jobs-validate": "ValidatingWebhookConfiguration",
        "volcano-admission-service-podgroups-mutate": "MutatingWebhookConfiguration",
        "volcano-admission-service-queues-mutate": "MutatingWebhookConfiguration",
        "volcano-admission-service-queues-validate": "ValidatingWebhookConfiguration",
    }
    urls = {d["webhooks"][0]["clientConfig"]["url"] for d in out}
    assert urls == {f"https://127.0.0.1:9443{p}" for p in peers.VOLCANO_ADMISSIONS}
    assert not any("pods" in d["metadata"]["name"] for d in out)  # every pod would pay for them


def test_kueue_configuration_is_local_and_unthrottled(tmp_path: Path) -> None:
    ports = {"kueue-health": 1, "kueue-metrics": 2, "kueue-webhook": 3}
    cfg = peers.kueue_config(ports, tmp_path)
    assert cfg["webhook"] == {"port": 3, "host": "127.0.0.1", "certDir": str(tmp_path)}
    assert cfg["health"]["healthProbeBindAddress"] == "127.0.0.1:1"
    assert cfg["metrics"]["bindAddress"] == "0"
    assert cfg["internalCertManagement"] == {"enable": False}
    assert cfg["leaderElection"] == {"leaderElect": False}
    assert cfg["integrations"] == {"frameworks": ["batch/job"]}
    assert cfg["clientConnection"]["qps"] == peers.CLIENT_QPS
