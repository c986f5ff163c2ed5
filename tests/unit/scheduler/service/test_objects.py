"""Reading pods and nodes: gang keys, device requests, quota, tolerations and node affinity."""

from __future__ import annotations

import json
from typing import Any

from motherboard.scheduler.cache import DeviceKind
from motherboard.scheduler.cache.types import LabelRequirement, Taint, Toleration
from motherboard.scheduler.service.objects import node_spec, pod_info

Obj = dict[str, Any]


def make(limits: dict[str, str] | None = None, annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    container: Obj = {"name": "trainer", "resources": {"limits": limits or {}, "requests": {"cpu": "500m"}}}
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u1",
            "labels": {"motherboard.io/pod-group": "job", "motherboard.io/attempt": "2"},
            "annotations": {"motherboard.io/gang-min-available": "8", **(annotations or {})},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"schedulerName": "motherboard-scheduler", "containers": [container], **spec},
        "status": {"phase": "Pending"},
    }


def test_a_gang_member_is_keyed_by_namespace_group_and_attempt() -> None:
    info = pod_info(make())
    assert info.key == "ns/p" and info.gang == "ns/job@2" and info.min_available == 8
    assert info.ours and not info.done and info.request.cpu_milli == 500


def test_whole_gpus_are_charged_one_thousand_milli_each() -> None:
    info = pod_info(make({"nvidia.com/gpu": "4"}))
    assert info.request.devices is not None and info.request.devices.kind is DeviceKind.WHOLE
    assert info.request.devices.container == "trainer"
    assert info.quota.get_amount("nvidia.com/gpu") == 4000


def test_a_mig_slice_is_a_partition_charged_its_compute_share() -> None:
    info = pod_info(make({"nvidia.com/mig-1g.10gb": "1"}))
    assert info.request.devices is not None and info.request.devices.profile == "1g.10gb"
    assert info.quota.get_amount("nvidia.com/gpu") == 142


def test_a_fraction_comes_from_the_device_request_annotation_with_its_memory_and_pool() -> None:
    request = {
        "vendor": "nvidia",
        "model": "T4",
        "pool": "edge",
        "sharing": {"mode": "Fraction", "fraction": 0.25, "memory": "4Gi"},
    }
    info = pod_info(
        make({"nvidia.com/gpu.shared": "3"}, {"motherboard.io/device-request": json.dumps(request)})
    )
    d = info.request.devices
    assert d is not None and (d.kind, d.milli, d.memory_mib, d.models) == (
        DeviceKind.FRACTION,
        250,
        4096,
        ("T4",),
    )
    assert (
        info.quota.get_amount("nvidia.com/gpu") == 250 and info.quota.get_amount("nvidia.com/gpu@edge") == 250
    )


def test_node_selector_is_folded_into_every_affinity_term() -> None:
    term = {"matchExpressions": [{"key": "motherboard.io/site", "operator": "In", "values": ["a", "b"]}]}
    affinity = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    }
    info = pod_info(
        make(
            nodeSelector={"disk": "ssd"}, affinity=affinity, tolerations=[{"key": "k", "operator": "Exists"}]
        )
    )
    assert info.request.node_selector == (
        (LabelRequirement("disk", "In", ("ssd",)), LabelRequirement("motherboard.io/site", "In", ("a", "b"))),
    )
    assert info.request.tolerations == (Toleration("k", "Exists"),)


def test_placement_annotation_sets_site_kind_and_topology() -> None:
    placement = {
        "requiredSites": ["edge-east"],
        "siteKind": "Edge",
        "topology": {"level": "Node", "mode": "Required"},
    }
    info = pod_info(make(annotations={"motherboard.io/placement": json.dumps(placement)}))
    assert info.request.site == "edge-east" and info.request.site_kind == "edge"
    assert info.request.topology is not None and info.request.topology.required


def test_a_pod_being_deleted_or_finished_holds_nothing() -> None:
    pod = make()
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    assert pod_info(pod).done


def test_a_node_reads_allocatable_taints_and_cordon() -> None:
    node = {
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {
            "unschedulable": True,
            "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
        },
        "status": {"allocatable": {"cpu": "7500m", "memory": "16Gi", "pods": "110"}},
    }
    spec = node_spec(node)
    assert (spec.cpu_milli, spec.memory_mib, spec.schedulable, spec.max_pods) == (7500, 16384, False, 110)
    assert spec.taints == (Taint("nvidia.com/gpu", "present", "NoSchedule"),)
