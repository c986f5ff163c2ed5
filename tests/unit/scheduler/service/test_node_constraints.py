"""The taint and node-affinity filters, fed with the adapter's node table (and inert without it)."""

from __future__ import annotations

from dataclasses import replace

from motherboard.scheduler.cache import ClusterCache
from motherboard.scheduler.cache.types import LabelRequirement, NodeSpec, Taint, Toleration
from motherboard.scheduler.placement import Placer, shipped_profile
from motherboard.scheduler.placement.plugins import default_registry
from tests.unit.scheduler.cache.builders import make_node, make_pod

GPU_TAINT = Taint("nvidia.com/gpu", "present")


def cluster() -> tuple[dict[str, NodeSpec], ClusterCache]:
    nodes = {
        "gpu": replace(make_node("gpu").gpus(8).build(), taints=(GPU_TAINT,)),
        "cpu": replace(make_node("cpu").build(), labels={"disk": "ssd"}),
    }
    return nodes, ClusterCache(nodes.values())


def test_a_pod_without_the_toleration_stays_off_tainted_nodes_with_a_readable_reason() -> None:
    nodes, cache = cluster()
    placer = Placer(shipped_profile(), default_registry(nodes))
    out = placer.place(make_pod("p").gpus(1).build(), cache.snapshot())
    assert not out.ok and "1 node(s) had untolerated taint {nvidia.com/gpu: present}" in out.status.message
    tolerant = replace(make_pod("q").gpus(1).build(), tolerations=(Toleration("nvidia.com/gpu", "Exists"),))
    assert placer.place(tolerant, cache.snapshot()).placement.node_name == "gpu"  # type: ignore[union-attr]


def test_prefer_no_schedule_and_empty_key_exists_rules() -> None:
    assert Toleration(operator="Exists").tolerates(GPU_TAINT)
    assert not Toleration("nvidia.com/gpu", "Equal", "absent").tolerates(GPU_TAINT)
    assert not Toleration("nvidia.com/gpu", "Exists", effect="NoExecute").tolerates(GPU_TAINT)


def test_required_node_affinity_picks_matching_nodes_only() -> None:
    nodes, cache = cluster()
    placer = Placer(shipped_profile(), default_registry(nodes))
    ssd = replace(make_pod("p").build(), node_selector=((LabelRequirement("disk", "In", ("ssd",)),),))
    assert placer.place(ssd, cache.snapshot()).placement.node_name == "cpu"  # type: ignore[union-attr]
    nvme = replace(ssd, node_selector=((LabelRequirement("disk", "In", ("nvme",)),),))
    out = placer.place(nvme, cache.snapshot())
    assert not out.ok and "didn't match Pod's node affinity/selector" in out.status.message


def test_without_a_node_table_the_filters_admit_every_node_as_in_the_simulator() -> None:
    _, cache = cluster()
    placer = Placer(shipped_profile(), default_registry())
    assert placer.place(make_pod("p").gpus(1).build(), cache.snapshot()).ok
