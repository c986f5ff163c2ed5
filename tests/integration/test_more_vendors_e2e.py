"""AMD compute partitions and Kunlunxin XPUs end to end on the demo cluster: AIJob → webhook → operator →
scheduler → bound pods with exact devices, on the kwok nodes the demo profile gives each vendor.

The real control plane, the real operator (with its admission webhook) and the real scheduler process; the
nodes are the demo profile's ``central-mi300x-000`` (four MI300X in CPX/NPS1: 32 ``amd.com/cpx_nps1``
partitions, four whole GPUs) and ``central-p800-000`` (eight P800 OAM XPUs).
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from motherboard.api.constants import ANNOTATION_DEVICE_INVENTORY
from motherboard.devices.model import NodeInventory
from tests.conftest import Cluster
from tests.integration.test_operator import (  # noqa: F401 - the operator suite's fixtures
    GROUP,
    VERSION,
    Api,
    api,
    make_job,
    operator,
    rejected,
    task_with,
    wait_for,
)
from tests.integration.test_scheduler import SchedulerProcess, ns, scheduler  # noqa: F401 - the scheduler suite's fixtures

ASSIGNMENT = "motherboard.io/device-assignment"
AMD_NODE, XPU_NODE = "central-mi300x-000", "central-p800-000"


def job(name: str, replicas: int, devices: dict[str, Any]) -> dict[str, Any]:
    task = task_with(devices) | {"replicas": replicas}
    task["template"]["metadata"] = {"annotations": {"motherboard.io/simulated-duration": "120s"}}
    return make_job(name, replicas, tasks=[task])


def inventory(core: client.CoreV1Api, node: str) -> NodeInventory:
    return NodeInventory.from_annotation(
        core.read_node(node).metadata.annotations[ANNOTATION_DEVICE_INVENTORY]
    )


def bound(jobs: Api, name: str, replicas: int) -> list[client.V1Pod]:
    pods = [p for p in jobs.pods(name) if p.spec.node_name and ASSIGNMENT in (p.metadata.annotations or {})]
    return pods if len(pods) == replicas else []


def assignment(pod: client.V1Pod) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(pod.metadata.annotations[ASSIGNMENT])
    return doc


def test_an_amd_partition_job_and_a_kunlunxin_job_are_bound_to_exact_devices_and_charged_their_share(
    cluster: Cluster,
    api: Api,  # noqa: F811 - the fixture imported above
    scheduler: SchedulerProcess,  # noqa: F811
) -> None:
    queue = api.custom.get_cluster_custom_object(GROUP, VERSION, "queues", api.ns)
    queue["spec"]["quotas"] += [
        {"resource": "amd.com/gpu", "nominal": 1},
        {"resource": "kunlunxin.com/xpu", "nominal": 4},
    ]
    api.custom.replace_cluster_custom_object(GROUP, VERSION, "queues", api.ns, queue)

    api.create(
        job(
            "cpx",
            2,
            {"vendor": "amd", "model": "MI300X", "sharing": {"mode": "MIG", "migProfile": "cpx_nps1"}},
        )
    )
    api.create(job("xpu", 1, {"vendor": "kunlunxin", "model": "P800", "count": 4}))

    # AMD: each pod one CPX partition of a partitioned MI300X, under ROCm's mixed resource name.
    cpx = wait_for("both AMD pods bound with an assignment", lambda: bound(api, "cpx", 2), timeout=90)
    gpus = {d.id: d for d in inventory(api.core, AMD_NODE).devices}
    partitions = {p.id: (d, p) for d in gpus.values() for p in d.partitions}
    taken = []
    for pod in cpx:
        assert pod.spec.node_name == AMD_NODE
        (container,) = pod.spec.containers
        assert container.resources.limits == {"amd.com/cpx_nps1": "1"}
        assert any(t.key == "amd.com/gpu" for t in pod.spec.tolerations)
        (entry,) = assignment(pod)["containers"]
        assert entry["resource"] == "amd.com/cpx_nps1"
        (device,) = entry["devices"]
        gpu, part = partitions[device["id"]]
        assert (device["parent"], part.profile, device["milli"]) == (gpu.id, "cpx_nps1", 125)
        taken.append(device["id"])
    assert len(set(taken)) == 2  # two partitions, never one twice

    # Kunlunxin: four whole XPUs of the P800 node (the model named by its alias "P800").
    (xpu,) = wait_for("the XPU pod bound with an assignment", lambda: bound(api, "xpu", 1), timeout=90)
    assert xpu.spec.node_name == XPU_NODE
    assert xpu.spec.containers[0].resources.limits == {"kunlunxin.com/xpu": "4"}
    (entry,) = assignment(xpu)["containers"]
    ids = [d["id"] for d in entry["devices"]]
    assert entry["resource"] == "kunlunxin.com/xpu" and len(set(ids)) == 4
    assert set(ids) <= {d.id for d in inventory(api.core, XPU_NODE).devices}

    # One quota unit: two CPX partitions are a quarter of one GPU of the queue's amd.com/gpu quota.
    def usage() -> dict[str, Any]:
        status = api.custom.get_cluster_custom_object(GROUP, VERSION, "queues", api.ns).get("status") or {}
        return {u["resource"]: u for u in status.get("usage") or []}

    def charged() -> tuple[str, str]:
        u = usage()
        return (u.get("amd.com/gpu", {}).get("used", ""), u.get("kunlunxin.com/xpu", {}).get("used", ""))

    # The status is rewritten on change, a moment after the pods are seen bound: it may first show the new
    # quotas with nothing used yet (CI read ("0", "0") there), so wait for the charge itself.
    try:
        wait_for("the queue's usage", lambda: charged() == ("250m", "4"))
    except AssertionError:
        assert charged() == ("250m", "4")  # the values read, in the failure


def test_bad_vendor_and_model_names_are_refused_with_the_known_ones(
    cluster: Cluster,
    api: Api,  # noqa: F811 - the fixture imported above
) -> None:
    vendor = rejected(cluster, api.ns, job("v", 1, {"vendor": "intel", "count": 1}))
    assert "nvidia" in vendor and "amd" in vendor and "kunlunxin" in vendor and "metax" in vendor
    model = rejected(cluster, api.ns, job("m", 1, {"vendor": "amd", "model": "MI999", "count": 1}))
    assert "MI999" in model and "MI300X" in model
    profile = rejected(
        cluster, api.ns, job("p", 1, {"vendor": "amd", "sharing": {"mode": "MIG", "migProfile": "cpx_nps9"}})
    )
    assert "cpx_nps1" in profile and "cpx_nps4" in profile
