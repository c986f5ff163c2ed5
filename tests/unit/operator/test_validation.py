"""Admission checks that need the rest of the cluster: queues, pools, nodes, namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from motherboard.api.manifests import parse_object
from motherboard.api.v1alpha1 import AIJob, DevicePoolSpec, Queue
from motherboard.devices.model import Device, NodeInventory, Partition, Vendor
from motherboard.operator.validation import (
    Cluster,
    NodeDevices,
    check_aijob,
    check_queue,
    check_queue_delete,
    default_queue,
)
from tests.unit.api.builders import aijob, queue, task


def gpu(model: str = "H100-80GB", index: int = 0, **extra: Any) -> Device:
    return Device(
        id=f"GPU-{model}-{index}",
        index=index,
        vendor=Vendor.NVIDIA,
        model=model,
        memory_mib=81920,
        resource="nvidia.com/gpu",
        **extra,
    )


def node(name: str, site: str, kind: str, *devices: Device) -> NodeDevices:
    return NodeDevices(name, site, kind, NodeInventory(devices=devices))


A100_MIG = gpu(
    "A100-80GB",
    mig_enabled=True,
    partitions=(
        Partition(id="MIG-a", profile="3g.40gb", start=0, slices=4, milli=428, memory_mib=40000),
        Partition(id="MIG-b", profile="1g.10gb", start=4, slices=1, milli=142, memory_mib=9800),
    ),
)
T4_SHARED = Device(
    id="GPU-t4",
    index=0,
    vendor=Vendor.NVIDIA,
    model="T4",
    memory_mib=15360,
    resource="nvidia.com/gpu",
    share_replicas=4,
)
NODES = [
    node("h100-0", "central", "central", *(gpu(index=i) for i in range(8))),
    node("a100-0", "central", "central", A100_MIG),
    node("t4-0", "edge-east", "edge", T4_SHARED),
]


def q(name: str = "research", **spec: Any) -> Queue:
    parsed = parse_object(queue(name, **{"namespaces": ["research"], **spec}))
    assert isinstance(parsed, Queue)
    return parsed


def cluster(**extra: Any) -> Cluster:
    base: dict[str, Any] = {
        "queues": {"org": q("org", parent=None, namespaces=[]), "research": q()},
        "pools": {
            "mig": DevicePoolSpec.model_validate(
                {"vendor": "nvidia", "sharing": {"mode": "MIG", "migProfiles": ["3g.40gb"]}}
            )
        },
        "nodes": NODES,
    }
    base.update(extra)
    return Cluster(**base)


def job(**spec: Any) -> AIJob:
    parsed = parse_object(aijob(**spec))
    assert isinstance(parsed, AIJob)
    return parsed


def devices(**request: Any) -> list[dict[str, Any]]:
    return [task(replicas=1, devices=request)]


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"queue": "nope"}, "spec.queue: queue 'nope' does not exist"),
        ({"queue": "org"}, "does not serve namespace 'research'"),
        (
            {"tasks": devices(pool="missing", vendor="nvidia")},
            "spec.tasks[0].devices.pool: DevicePool 'missing'",
        ),
        (
            {"tasks": devices(pool="mig", sharing={"mode": "MIG", "migProfile": "1g.10gb"})},
            "does not offer 1g.10gb",
        ),
        ({"tasks": devices(pool="mig", vendor="nvidia")}, "hands out MIG devices, not Whole"),
        (
            {"tasks": devices(vendor="nvidia", model="H100-80GB", count=16)},
            "no node could ever provide 16 x nvidia H100-80GB",
        ),
        (
            {"tasks": devices(vendor="huawei", model="Ascend910B", count=1)},
            "spec.tasks[0].devices.model: no node has a huawei device of model 'Ascend910B'",
        ),
        (
            {"placement": {"siteKind": "Edge"}, "tasks": devices(vendor="nvidia", model="H100-80GB")},
            "in edge sites",
        ),
        (
            {
                "tasks": devices(
                    vendor="nvidia", sharing={"mode": "Fraction", "fraction": 0.5, "memory": "20Gi"}
                )
            },
            "share",
        ),
    ],
)
def test_jobs_that_the_cluster_cannot_serve_are_rejected_naming_the_field(
    spec: dict[str, Any], complaint: str
) -> None:
    problems = check_aijob(job(**spec), cluster())
    assert any(complaint in p for p in problems), problems


@pytest.mark.parametrize(
    "spec",
    [
        {"tasks": devices(vendor="nvidia", model="H100-80GB", count=8)},
        {"tasks": devices(pool="mig", sharing={"mode": "MIG", "migProfile": "3g.40gb"})},
        {
            "placement": {"siteKind": "Edge"},
            "tasks": devices(vendor="nvidia", sharing={"mode": "Fraction", "fraction": 0.5}),
        },
        {"tasks": [task(replicas=3, devices=None)]},
    ],
)
def test_jobs_the_cluster_can_serve_pass(spec: dict[str, Any]) -> None:
    assert check_aijob(job(**spec), cluster()) == []


def test_the_queue_defaults_from_the_namespace() -> None:
    assert default_queue("research", cluster()) == "research"
    assert default_queue("elsewhere", cluster()) is None


def test_a_queue_whose_parent_is_missing_or_makes_a_cycle_is_rejected() -> None:
    assert "does not exist" in check_queue(q("x", parent="ghost"), cluster())[0]
    looped = cluster(queues={"a": q("a", parent="b"), "b": q("b", parent="a")})
    assert any("cycle" in p for p in check_queue(q("a", parent="b"), looped))


def test_children_may_not_be_promised_more_than_the_parent_owns() -> None:
    greedy = q("greedy", quotas=[{"resource": "nvidia.com/gpu", "nominal": 12}])
    problems = check_queue(
        greedy,
        cluster(
            queues={
                "org": q("org", parent=None, quotas=[{"resource": "nvidia.com/gpu", "nominal": 16}]),
                "research": q(),
            }
        ),
    )
    assert any("promised 20 nvidia.com/gpu" in p for p in problems), problems
    fine = q("fine", quotas=[{"resource": "nvidia.com/gpu", "nominal": 8}])
    assert (
        check_queue(
            fine,
            cluster(
                queues={
                    "org": q("org", parent=None, quotas=[{"resource": "nvidia.com/gpu", "nominal": 16}]),
                    "research": q(),
                }
            ),
        )
        == []
    )


def test_a_parent_without_a_quota_of_a_resource_pools_its_childrens_and_its_own_parent_checks_that() -> None:
    # The rule is the shared model's: "mid" sets no GPU quota, so it promises its children's 12 upwards.
    gpus = [{"resource": "nvidia.com/gpu", "nominal": 8}]
    tree = {
        "top": q("top", parent=None, namespaces=[], quotas=[{"resource": "nvidia.com/gpu", "nominal": 10}]),
        "mid": q("mid", parent="top", namespaces=[], quotas=[{"resource": "cpu", "nominal": 64}]),
        "left": q("left", parent="mid", quotas=[{"resource": "nvidia.com/gpu", "nominal": 4}]),
    }
    problems = check_queue(q("right", parent="mid", quotas=gpus), cluster(queues=tree))
    assert problems == [
        "spec.quotas: children of queue 'top' are promised 12 nvidia.com/gpu in total, more than its nominal "
        "10: a parent's nominal is what its whole subtree may use, so raise the parent's quota or lower a "
        "child's"
    ]


def test_deleting_a_queue_with_children_or_admitted_jobs_is_refused_and_says_what_to_do() -> None:
    queues = {"org": q("org", parent=None, namespaces=[]), "research": q(parent="org")}
    jobs = [("research/train", "research", "Running"), ("research/later", "research", "Queued")]
    assert check_queue_delete("org", cluster(queues=queues), []) == [
        "queue 'org' is the parent of research: delete or re-parent its children first"
    ]
    assert check_queue_delete("research", cluster(queues=queues), jobs) == [
        "queue 'research' has 1 admitted job(s) holding its quota (research/train): wait for them to finish, "
        "or delete or suspend them first"
    ]
    # Pending jobs do not block a delete: they wait, and say that the queue is gone.
    assert check_queue_delete("research", cluster(queues=queues), jobs[1:]) == []


def test_an_unknown_model_is_refused_with_the_models_that_exist() -> None:
    # Issue 14: "H200" was refused without saying what the cluster has.
    problems = check_aijob(job(tasks=devices(vendor="nvidia", model="H200", count=1)), cluster())
    assert problems == [
        "spec.tasks[0].devices.model: no node has a nvidia device of model 'H200'; nvidia models in the "
        "cluster: A100-80GB, H100-80GB, T4"
    ]


def test_an_unambiguous_alias_names_the_full_model() -> None:
    assert check_aijob(job(tasks=devices(vendor="nvidia", model="H100", count=8)), cluster()) == []
    assert check_aijob(job(tasks=devices(vendor="nvidia", model="h100-80gb", count=8)), cluster()) == []
    too_many = check_aijob(job(tasks=devices(vendor="nvidia", model="H100", count=9)), cluster())
    assert too_many == [
        "spec.tasks[0].devices: no node could ever provide 9 x nvidia H100-80GB: a pod's devices come from "
        "one node, and no node has more than 8 whole ones"
    ]


def test_an_ambiguous_alias_asks_for_the_full_name() -> None:
    nodes = [*NODES, node("h100-pcie", "central", "central", gpu("H100-PCIe"))]
    problems = check_aijob(job(tasks=devices(vendor="nvidia", model="H100")), cluster(nodes=nodes))
    assert problems == [
        "spec.tasks[0].devices.model: 'H100' could be H100-80GB or H100-PCIe; write the full model name"
    ]


def test_a_whole_gpu_of_a_model_that_is_all_mig_says_why() -> None:
    problems = check_aijob(job(tasks=devices(vendor="nvidia", model="A100-80GB")), cluster())
    assert problems == [
        "spec.tasks[0].devices: no node could ever provide 1 x nvidia A100-80GB: every such GPU is "
        "MIG-partitioned; ask for sharing mode MIG with a migProfile of 1g.10gb, 3g.40gb, or for another model"
    ]


def test_a_missing_queue_lists_the_queues_there_are_but_not_hundreds() -> None:
    many = {f"q{i:03d}": q(f"q{i:03d}", parent=None, namespaces=[]) for i in range(25)}
    (problem,) = check_aijob(job(queue="nope"), cluster(queues=many))
    assert problem == (
        "spec.queue: queue 'nope' does not exist (queues: "
        + ", ".join(f"q{i:03d}" for i in range(20))
        + " and 5 more)"
    )
