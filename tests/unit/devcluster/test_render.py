"""Rendering profiles into kwok Node manifests: labels, capacities, taints and the device inventory."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from motherboard.api.constants import (
    ANNOTATION_DEVICE_INVENTORY,
    LABEL_ACCELERATOR_MODEL,
    LABEL_NVIDIA_MIG_STRATEGY,
    LABEL_NVIDIA_PRODUCT,
    LABEL_NVLINK_DOMAIN,
    LABEL_RACK,
    LABEL_SITE,
    LABEL_SITE_KIND,
    LABEL_ZONE,
    RESOURCE_ASCEND_310P,
    RESOURCE_ASCEND_910,
    RESOURCE_NVIDIA_GPU,
    RESOURCE_NVIDIA_GPU_SHARED,
    RESOURCE_NVIDIA_MIG_PREFIX,
    mig_resource_name,
)
from motherboard.devcluster.profile import TAINT_EDGE, ClusterProfile
from motherboard.devcluster.render import KWOK_NODE_ANNOTATION, placements, render_nodes
from motherboard.devices.model import NodeInventory

PROFILES = Path(__file__).resolve().parents[3] / "profiles"


@pytest.fixture(scope="module")
def demo() -> dict[str, dict[str, Any]]:
    nodes = render_nodes(ClusterProfile.load(PROFILES / "demo.yaml"))
    return {n["metadata"]["name"]: n for n in nodes}


def _taints(node: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(t["key"], t["value"], t["effect"]) for t in node["spec"]["taints"]}


def test_every_node_is_managed_by_kwok_and_named_uniquely(demo: dict[str, dict[str, Any]]) -> None:
    assert len(demo) == 23
    for name, node in demo.items():
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63
        assert node["metadata"]["annotations"][KWOK_NODE_ANNOTATION] == "fake"
        assert node["status"]["allocatable"] == node["status"]["capacity"]


def test_h100_node_advertises_whole_gpus_with_gfd_labels_and_the_gpu_taint(
    demo: dict[str, dict[str, Any]],
) -> None:
    node = demo["central-h100-000"]
    labels, cap = node["metadata"]["labels"], node["status"]["capacity"]
    assert cap[RESOURCE_NVIDIA_GPU] == "8" and cap["cpu"] == "112" and cap["memory"] == "2048Gi"
    assert labels[LABEL_NVIDIA_PRODUCT] == "NVIDIA-H100-80GB-HBM3"
    assert labels[LABEL_SITE] == "central" and labels[LABEL_SITE_KIND] == "central"
    assert labels[LABEL_NVLINK_DOMAIN] == "central-h100-000"  # an HGX server is its own NVLink domain
    assert _taints(node) == {(RESOURCE_NVIDIA_GPU, "present", "NoSchedule")}


def test_mig_node_advertises_slices_only_and_the_inventory_matches(demo: dict[str, dict[str, Any]]) -> None:
    node = demo["central-a100-mig-000"]
    cap = node["status"]["capacity"]
    assert RESOURCE_NVIDIA_GPU not in cap  # mixed strategy: a MIG-enabled GPU is only its slices
    # Layouts cycle over 8 GPUs: [3g+2g+1g], [3g,3g], [7g], [1g x7], twice.
    assert cap[mig_resource_name("1g.10gb")] == "16"
    assert cap[mig_resource_name("2g.20gb")] == "2"
    assert cap[mig_resource_name("3g.40gb")] == "6"
    assert cap[mig_resource_name("7g.80gb")] == "2"
    assert node["metadata"]["labels"][LABEL_NVIDIA_MIG_STRATEGY] == "mixed"
    inv = NodeInventory.from_annotation(node["metadata"]["annotations"][ANNOTATION_DEVICE_INVENTORY])
    assert len(inv.devices) == 8 and all(d.mig_enabled for d in inv.devices)
    from_inventory = Counter(mig_resource_name(p.profile) for d in inv.devices for p in d.partitions)
    from_capacity = {k: int(v) for k, v in cap.items() if k.startswith(RESOURCE_NVIDIA_MIG_PREFIX)}
    assert dict(from_inventory) == from_capacity
    for device in inv.devices:  # partitions never overlap and never exceed the GPU
        used = [s for p in device.partitions for s in range(p.start, p.start + p.slices)]
        assert len(used) == len(set(used)) and max(used) < 8
        assert sum(p.milli for p in device.partitions) <= 1000


def test_edge_t4_node_is_time_sliced_and_tainted_as_edge(demo: dict[str, dict[str, Any]]) -> None:
    node = demo["edge-east-t4-000"]
    cap, labels = node["status"]["capacity"], node["metadata"]["labels"]
    assert cap[RESOURCE_NVIDIA_GPU_SHARED] == "8" and RESOURCE_NVIDIA_GPU not in cap  # 2 GPUs x 4 replicas
    assert labels[LABEL_NVIDIA_PRODUCT] == "Tesla-T4-SHARED"
    assert labels[LABEL_SITE_KIND] == "edge"
    assert _taints(node) == {
        (RESOURCE_NVIDIA_GPU, "present", "NoSchedule"),
        (TAINT_EDGE, "true", "NoSchedule"),
    }
    inv = NodeInventory.from_node_annotations(node["metadata"]["annotations"])
    assert [d.share_replicas for d in inv.devices] == [4, 4]


def test_ascend_nodes_are_arm64_with_npu_resources_and_taints(demo: dict[str, dict[str, Any]]) -> None:
    n910, n310 = demo["central-ascend910b-000"], demo["edge-south-ascend310p-000"]
    assert n910["status"]["capacity"][RESOURCE_ASCEND_910] == "8"
    assert n910["metadata"]["labels"]["kubernetes.io/arch"] == "arm64"
    assert (RESOURCE_ASCEND_910, "present", "NoSchedule") in _taints(n910)
    assert n310["status"]["capacity"][RESOURCE_ASCEND_310P] == "2"
    assert _taints(n310) == {
        (RESOURCE_ASCEND_310P, "present", "NoSchedule"),
        (TAINT_EDGE, "true", "NoSchedule"),
    }
    inv = NodeInventory.from_node_annotations(n910["metadata"]["annotations"])
    assert {d.resource for d in inv.devices} == {RESOURCE_ASCEND_910}
    assert [d.device_paths for d in inv.devices][:2] == [("/dev/davinci0",), ("/dev/davinci1",)]


def test_cpu_nodes_carry_topology_but_no_accelerator_labels_or_central_taints(
    demo: dict[str, dict[str, Any]],
) -> None:
    node = demo["central-cpu-000"]
    assert LABEL_ACCELERATOR_MODEL not in node["metadata"]["labels"]
    assert ANNOTATION_DEVICE_INVENTORY not in node["metadata"]["annotations"]
    assert node["spec"]["taints"] == []
    assert _taints(demo["edge-south-cpu-001"]) == {(TAINT_EDGE, "true", "NoSchedule")}


def test_racks_fill_in_order_and_spread_over_zones(demo: dict[str, dict[str, Any]]) -> None:
    racks = [demo[f"central-h100-{i:03d}"]["metadata"]["labels"][LABEL_RACK] for i in range(4)]
    zones = [demo[f"central-h100-{i:03d}"]["metadata"]["labels"][LABEL_ZONE] for i in range(4)]
    assert racks == [
        "central-h100-rack00",
        "central-h100-rack00",
        "central-h100-rack01",
        "central-h100-rack01",
    ]
    assert zones == ["central-a", "central-a", "central-b", "central-b"]


def test_multi_node_nvlink_domains_group_consecutive_nodes() -> None:
    doc = {
        "kind": "ClusterProfile",
        "name": "nvl",
        "sites": [
            {
                "name": "c",
                "kind": "central",
                "region": "r",
                "nodeGroups": [
                    {"name": "gb200", "count": 5, "cpu": 144, "memoryGiB": 1800, "nvlinkDomainSize": 2,
                     "devices": {"model": "H100-80GB", "count": 4}},
                ],
            }
        ],
    }  # fmt: skip
    domains = [
        n["metadata"]["labels"][LABEL_NVLINK_DOMAIN] for n in render_nodes(ClusterProfile.model_validate(doc))
    ]
    assert domains == ["c-gb200-nvl00", "c-gb200-nvl00", "c-gb200-nvl01", "c-gb200-nvl01", "c-gb200-nvl02"]


def test_bench_profile_renders_1000_distinct_nodes_and_devices_deterministically() -> None:
    profile = ClusterProfile.load(PROFILES / "bench-1000.yaml")
    first, second = render_nodes(profile), render_nodes(profile)
    assert first == second  # same ids every run: the simulator and the dev cluster agree
    assert len({n["metadata"]["name"] for n in first}) == 1000 == len(list(placements(profile)))
    ids = [
        d.id for n in first for d in NodeInventory.from_node_annotations(n["metadata"]["annotations"]).devices
    ]
    assert len(ids) == len(set(ids)) > 1000
    # The API server rejects annotations over 256 KiB in total; stay far below.
    assert max(len(n["metadata"]["annotations"].get(ANNOTATION_DEVICE_INVENTORY, "")) for n in first) < 16_384
