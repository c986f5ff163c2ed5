"""AMD compute partitions, Kunlunxin XPUs and MetaX GPUs through the live scheduler's adapter.

The nodes are the demo profile's (rendered as the dev cluster posts them); the pods are what the operator
writes for ``vendor: amd`` with ``sharing: {mode: MIG, migProfile: cpx_nps1}`` and for whole devices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from motherboard.api.constants import device_taint_key
from motherboard.devcluster.profile import ClusterProfile
from motherboard.devcluster.render import render_nodes
from motherboard.devices.model import NodeInventory
from motherboard.scheduler.cycle import Bind
from motherboard.scheduler.placement import shipped_profile
from motherboard.scheduler.service.world import World

Obj = dict[str, Any]
PROFILES = Path(__file__).resolve().parents[4] / "profiles"
NODES = ("central-mi300x-000", "central-p800-000", "central-mxc500-000", "central-h100-000")


@pytest.fixture(scope="module")
def demo_nodes() -> dict[str, Obj]:
    return {n["metadata"]["name"]: n for n in render_nodes(ClusterProfile.load(PROFILES / "demo.yaml"))}


def pod(name: str, resource: str, count: int) -> Obj:
    toleration = {"key": device_taint_key(resource), "operator": "Exists", "effect": "NoSchedule"}
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {}, "annotations": {}},
        "spec": {
            "schedulerName": "motherboard-scheduler",
            "tolerations": [toleration],
            "containers": [{"name": "main", "resources": {"limits": {resource: str(count)}}}],
        },
        "status": {"phase": "Pending"},
    }


def placed(demo_nodes: dict[str, Obj], *pods: Obj) -> dict[str, Bind]:
    w = World(shipped_profile())
    for name in NODES:
        w.on_node(demo_nodes[name])
    for p in pods:
        w.on_pod(p)
    return {a.workload.key: a for a in w.cycle.run(now=0).actions if isinstance(a, Bind)}


def inventory(node: Obj) -> NodeInventory:
    return NodeInventory.from_node_annotations(node["metadata"]["annotations"])


def test_an_amd_compute_partition_is_placed_on_one_partition_and_charged_an_eighth_of_a_gpu(
    demo_nodes: dict[str, Obj],
) -> None:
    binds = placed(demo_nodes, pod("infer", "amd.com/cpx_nps1", 1))
    bind = binds["ns/infer"]
    assert bind.workload.request.get_amount("amd.com/gpu") == 125  # one XCD of eight
    (assignment,) = bind.assignments
    (container,) = assignment.containers
    assert (assignment.node, container.resource) == ("central-mi300x-000", "amd.com/cpx_nps1")
    (device,) = container.devices
    gpus = {d.id: d for d in inventory(demo_nodes["central-mi300x-000"]).devices}
    parent = gpus[device.parent or ""]
    assert parent.mig_enabled and device.id in {p.id for p in parent.partitions}
    assert {p.profile for p in parent.partitions} == {"cpx_nps1"} and device.milli == 125


def test_whole_amd_gpus_come_from_the_unpartitioned_ones_and_xpus_and_metax_gpus_from_their_nodes(
    demo_nodes: dict[str, Obj],
) -> None:
    binds = placed(
        demo_nodes,
        pod("train", "amd.com/gpu", 2),
        pod("xpu", "kunlunxin.com/xpu", 2),
        pod("maca", "metax-tech.com/gpu", 1),
    )
    where = {key: b.assignments[0].node for key, b in binds.items()}
    assert where == {
        "ns/train": "central-mi300x-000",
        "ns/xpu": "central-p800-000",
        "ns/maca": "central-mxc500-000",
    }
    gpus = {d.id: d for d in inventory(demo_nodes["central-mi300x-000"]).devices}
    train = binds["ns/train"].assignments[0].containers[0]
    assert train.resource == "amd.com/gpu" and len(train.devices) == 2
    assert all(not gpus[d.id].mig_enabled for d in train.devices)  # SPX GPUs, not the CPX ones
    xpus = {d.id for d in inventory(demo_nodes["central-p800-000"]).devices}
    assert {d.id for d in binds["ns/xpu"].assignments[0].containers[0].devices} <= xpus
    assert binds["ns/xpu"].workload.request.get_amount("kunlunxin.com/xpu") == 2000
