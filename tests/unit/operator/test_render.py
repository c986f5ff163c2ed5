"""An AIJob renders into pods and services that the scheduler, the kubelet and the framework understand."""

from __future__ import annotations

import json
from typing import Any

from motherboard.api.constants import (
    ANNOTATION_DEVICE_REQUEST,
    ANNOTATION_GANG_MIN_AVAILABLE,
    LABEL_JOB_NAME,
    LABEL_POD_GROUP,
    SCHEDULER_NAME,
    TAINT_EDGE,
)
from motherboard.api.manifests import parse_object
from motherboard.api.v1alpha1 import AIJob, DevicePoolSpec
from motherboard.operator.render import render_pod, render_services, slots
from tests.unit.api.builders import aijob, task

UID = "1234-uid"


def job(**spec: Any) -> AIJob:
    parsed = parse_object(aijob(**spec))
    assert isinstance(parsed, AIJob)
    return parsed


def pods(j: AIJob, pools: dict[str, DevicePoolSpec] | None = None) -> list[dict[str, Any]]:
    return [render_pod(j, UID, slot, pools) for slot in slots(j)]


def env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


def test_pytorch_job_gets_rendezvous_env_and_a_headless_service() -> None:
    j = job(framework="PyTorch", tasks=[task("master", 1), task("worker", 3)])
    rendered = pods(j)
    assert [p["metadata"]["name"] for p in rendered] == [
        "job-master-0",
        "job-worker-0",
        "job-worker-1",
        "job-worker-2",
    ]
    assert [env(p)["RANK"] for p in rendered] == ["0", "1", "2", "3"]
    assert {env(p)["WORLD_SIZE"] for p in rendered} == {"4"}
    assert {env(p)["MASTER_ADDR"] for p in rendered} == {"job-master-0.job"}
    assert rendered[2]["spec"]["hostname"] == "job-worker-1" and rendered[2]["spec"]["subdomain"] == "job"
    services = render_services(j, UID)
    assert services[0]["spec"]["clusterIP"] == "None"
    assert services[0]["metadata"]["ownerReferences"][0]["uid"] == UID


def test_every_pod_is_scheduled_by_motherboard_as_one_gang_owned_by_the_job() -> None:
    rendered = pods(job(tasks=[task(replicas=3)]))
    for pod in rendered:
        assert pod["spec"]["schedulerName"] == SCHEDULER_NAME
        assert pod["metadata"]["labels"][LABEL_POD_GROUP] == "job"
        assert pod["metadata"]["labels"][LABEL_JOB_NAME] == "job"
        assert pod["metadata"]["annotations"][ANNOTATION_GANG_MIN_AVAILABLE] == "3"  # Training: all pods
        owner = pod["metadata"]["ownerReferences"][0]
        assert (
            owner["kind"] == "AIJob" and owner["controller"] is True and owner["blockOwnerDeletion"] is True
        )
        assert pod["spec"]["restartPolicy"] == "Never"


def test_whole_gpus_become_limits_with_the_gpu_toleration() -> None:
    pod = pods(job(tasks=[task(replicas=1, devices={"vendor": "nvidia", "model": "H100-80GB", "count": 4})]))[
        0
    ]
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"][
        "tolerations"
    ]
    request = json.loads(pod["metadata"]["annotations"][ANNOTATION_DEVICE_REQUEST])
    assert request["model"] == "H100-80GB" and request["count"] == 4


def test_mig_and_npu_requests_use_the_advertised_resource_names() -> None:
    mig = {"vendor": "nvidia", "sharing": {"mode": "MIG", "migProfile": "3g.40gb"}}
    npu = {"vendor": "huawei", "model": "Ascend310P", "count": 2}
    rendered = pods(job(tasks=[task("a", 1, devices=mig), task("b", 1, devices=npu)]))
    assert rendered[0]["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/mig-3g.40gb": "1"}
    assert rendered[1]["spec"]["containers"][0]["resources"]["limits"] == {"huawei.com/Ascend310P": "2"}
    assert rendered[1]["spec"]["tolerations"][0]["key"] == "huawei.com/Ascend310P"


def test_a_fraction_asks_for_the_pools_shares_rounded_up() -> None:
    pool = DevicePoolSpec.model_validate(
        {"vendor": "nvidia", "sharing": {"mode": "Fraction", "sharesPerDevice": 4}}
    )
    frac = {"pool": "t4", "sharing": {"mode": "Fraction", "fraction": 0.3, "memory": "4Gi"}}
    pod = pods(job(tasks=[task(replicas=1, devices=frac)]), {"t4": pool})[0]
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu.shared": "2"}


def test_edge_jobs_tolerate_the_edge_taint_and_require_edge_nodes() -> None:
    pod = pods(job(placement={"siteKind": "Edge"}, tasks=[task(replicas=1)]))[0]
    assert {"key": TAINT_EDGE, "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "motherboard.io/site-kind", "operator": "In", "values": ["edge"]}
    ]
    assert json.loads(pod["metadata"]["annotations"]["motherboard.io/placement"]) == {
        "preferredSites": [],
        "requiredSites": [],
        "siteKind": "Edge",
    }
    central = pods(job(tasks=[task(replicas=1)]))[0]
    assert all(t["key"] != TAINT_EDGE for t in central["spec"].get("tolerations", []))


def test_ray_job_starts_head_and_workers_and_exposes_the_head() -> None:
    j = job(framework="Ray", tasks=[task("head", 1), task("worker", 2)])
    head, worker, _ = pods(j)
    assert "ray start --head" in head["spec"]["containers"][0]["command"][-1]
    assert "--address=job-head:6379" in worker["spec"]["containers"][0]["command"][-1]
    names = [s["metadata"]["name"] for s in render_services(j, UID)]
    assert "job-head" in names


def test_inference_replicas_restart_in_place_behind_a_service() -> None:
    template = {"spec": {"containers": [{"name": "s", "image": "x", "ports": [{"containerPort": 8080}]}]}}
    j = job(type="Inference", gang={"minAvailable": 1}, tasks=[task("server", 2, template=template)])
    rendered = pods(j)
    assert {p["spec"]["restartPolicy"] for p in rendered} == {"Always"}
    assert {p["metadata"]["annotations"][ANNOTATION_GANG_MIN_AVAILABLE] for p in rendered} == {"1"}
    (service,) = render_services(j, UID)
    assert service["spec"]["ports"][0]["port"] == 8080 and service["metadata"]["name"] == "job"
