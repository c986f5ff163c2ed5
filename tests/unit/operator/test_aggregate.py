"""DevicePool and Queue status computed from nodes, bound pods and jobs."""

from __future__ import annotations

from typing import Any

from motherboard.api.assignment import AssignedDevice, ContainerAssignment, DeviceAssignment
from motherboard.api.v1alpha1 import DevicePoolSpec, Queue
from motherboard.devices.model import Device, Health, NodeInventory, Vendor
from motherboard.operator.aggregate import NodeView, PodUsage, pool_occupancy, pool_status, queue_statuses


def node(name: str, site: str, *devices: Device, gpus: str = "0") -> NodeView:
    labels = {"motherboard.io/site": site}
    return NodeView(name, labels, {"nvidia.com/gpu": gpus}, NodeInventory(devices=devices))


def gpu(i: int, model: str = "H100-80GB", healthy: bool = True) -> Device:
    return Device(
        id=f"GPU-{model}-{i}",
        index=i,
        vendor=Vendor.NVIDIA,
        model=model,
        memory_mib=81920,
        resource="nvidia.com/gpu",
        health=Health.HEALTHY if healthy else Health.UNHEALTHY,
    )


def pod(
    name: str,
    node_name: str,
    queue: str | None,
    resource: str = "nvidia.com/gpu",
    count: int = 1,
    milli: int = 1000,
    cpu: str = "1",
    phase: str = "Running",
) -> dict[str, Any]:
    assignment = DeviceAssignment(
        node=node_name,
        containers=(
            ContainerAssignment(
                name="main",
                resource=resource,
                devices=tuple(AssignedDevice(id=f"d{i}", milli=milli) for i in range(count)),
            ),
        ),
    )
    return {
        "metadata": {
            "name": name,
            "labels": {"motherboard.io/queue": queue} if queue else {},
            "annotations": assignment.annotations(),
        },
        "spec": {
            "nodeName": node_name,
            "containers": [
                {"name": "main", "resources": {"limits": {resource: str(count)}, "requests": {"cpu": cpu}}}
            ],
        },
        "status": {"phase": phase},
    }


def usage(*pods: dict[str, Any]) -> list[PodUsage]:
    return [u for p in pods if (u := PodUsage.from_pod(p)) is not None]


def test_a_pool_counts_its_sites_nodes_devices_capacity_and_allocation() -> None:
    nodes = [
        node("h1", "central", gpu(0), gpu(1, healthy=False), gpus="2"),
        node("h2", "central", gpu(0), gpus="1"),
        node("a1", "central", gpu(0, "A100-80GB"), gpus="1"),
        node("e1", "edge", gpu(0), gpus="1"),
    ]
    spec = DevicePoolSpec.model_validate({"site": "central", "vendor": "nvidia", "model": "H100-80GB"})
    status = pool_status(
        spec, nodes, usage(pod("p", "h1", "q", count=1), pod("done", "h2", "q", phase="Succeeded"))
    )
    assert (status.nodes, status.devices, status.healthy) == (2, 3, 2)
    assert status.capacity == {"nvidia.com/gpu": "3"} and status.allocated == {"nvidia.com/gpu": "1"}
    assert (status.in_use, status.free) == ("1/3 nvidia.com/gpu", "2 nvidia.com/gpu")  # kubectl get columns
    assert status.conditions[0].status == "True"


def test_a_pool_with_no_devices_is_not_ready() -> None:
    spec = DevicePoolSpec.model_validate({"vendor": "huawei", "model": "Ascend910B"})
    status = pool_status(spec, [node("h1", "central", gpu(0))], [])
    assert status.nodes == 0 and status.conditions[0].reason == "NoHealthyDevices"


def held(
    name: str, node_name: str, *devices: AssignedDevice, resource: str = "nvidia.com/gpu"
) -> dict[str, Any]:
    """A bound pod holding exactly ``devices`` (ids as the scheduler writes them into the assignment)."""
    body = pod(name, node_name, "q", resource=resource)
    assignment = DeviceAssignment(
        node=node_name, containers=(ContainerAssignment(name="main", resource=resource, devices=devices),)
    )
    body["metadata"]["annotations"] = assignment.annotations()
    return body


def test_pool_occupancy_tells_free_compute_on_idle_devices_from_compute_stranded_on_partly_held_ones() -> (
    None
):
    nodes = [
        node("h1", "central", gpu(0, "A100-80GB"), gpu(1, "A100-80GB"), gpu(2, "A100-80GB"), gpus="3"),
        node("h2", "central", gpu(0, "A100-80GB"), gpu(1, "A100-80GB", healthy=False), gpus="2"),
    ]
    spec = DevicePoolSpec.model_validate({"site": "central", "vendor": "nvidia", "model": "A100-80GB"})
    pods = usage(
        # a quarter share and a MIG slice on h1's GPU 0 (the slice counts on its parent), h1's GPU 1 whole
        held(
            "share", "h1", AssignedDevice(id="GPU-A100-80GB-0", milli=250), resource="nvidia.com/gpu.shared"
        ),
        held(
            "slice",
            "h1",
            AssignedDevice(id="MIG-1", parent="GPU-A100-80GB-0", milli=250),
            resource="nvidia.com/mig-2g.20gb",
        ),
        held("whole", "h1", AssignedDevice(id="GPU-A100-80GB-1")),
        held("elsewhere", "e1", AssignedDevice(id="GPU-A100-80GB-2")),  # not a pool node: ignored
    )
    occupancy = pool_occupancy(spec, nodes, pods)
    # healthy: h1's three and h2's GPU 0; idle: h1's GPU 2 and h2's GPU 0 (the unhealthy one does not count)
    assert (occupancy.healthy, occupancy.idle, occupancy.largest_idle) == (4, 2, 1)
    assert (occupancy.free_milli, occupancy.stranded_milli) == (2500, 500)
    assert occupancy.fragmentation == 0.2


def test_an_idle_or_full_pool_is_not_fragmented() -> None:
    nodes = [node("h1", "central", gpu(0), gpu(1), gpus="2")]
    spec = DevicePoolSpec.model_validate({"vendor": "nvidia", "model": "H100-80GB"})
    idle = pool_occupancy(spec, nodes, [])
    assert (idle.free_milli, idle.largest_idle, idle.fragmentation) == (2000, 2, 0.0)
    full = pool_occupancy(
        spec,
        nodes,
        usage(held("p", "h1", AssignedDevice(id="GPU-H100-80GB-0"), AssignedDevice(id="GPU-H100-80GB-1"))),
    )
    assert (full.free_milli, full.idle, full.fragmentation) == (0, 0, 0.0)


def queue(name: str, parent: str | None, nominal: str, lending: str | None = None) -> Queue:
    quota: dict[str, Any] = {"resource": "nvidia.com/gpu", "nominal": nominal}
    if lending is not None:
        quota["lendingLimit"] = lending
    return Queue.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"parent": parent, "quotas": [quota, {"resource": "cpu", "nominal": "64"}]},
        }
    )


def test_queue_usage_counts_mig_and_shares_in_the_one_quota_unit_and_rolls_up_to_the_parent() -> None:
    queues = {
        "org": queue("org", None, "16"),
        "a": queue("a", "org", "8"),
        "b": queue("b", "org", "8", lending="2"),
    }
    pods = usage(
        pod("whole", "n", "a", count=8),
        pod("mig", "n", "a", resource="nvidia.com/mig-1g.10gb", milli=142),
        pod("share", "n", "a", resource="nvidia.com/gpu.shared", milli=250),
        pod("b1", "n", "b", count=1),
    )
    phases = [("a", "Running"), ("a", "Queued"), ("b", "Running"), ("b", "Preempted")]
    statuses = queue_statuses(queues, phases, pods)
    a_gpu = statuses["a"].usage[0]
    assert (a_gpu.used, a_gpu.borrowed) == ("8392m", "392m")
    assert statuses["a"].usage[1].used == "3"  # cpu requests
    assert statuses["b"].usage[0].lent == "392m"  # b has 7 unused, lends at most 2, siblings borrow 0.392
    assert statuses["org"].usage[0].used == "9392m"
    assert (statuses["a"].pending_jobs, statuses["a"].admitted_jobs) == (1, 1)
    assert (statuses["b"].pending_jobs, statuses["b"].admitted_jobs) == (1, 1)


def test_one_loan_is_lent_once_whatever_the_number_of_lenders() -> None:
    # Issue 14: a borrows 2 GPUs; b and c each reported lending 2 (the loan counted once per lender).
    queues = {
        "org": queue("org", None, "12"),
        "a": queue("a", "org", "4"),
        "b": queue("b", "org", "4"),
        "c": queue("c", "org", "4"),
    }
    statuses = queue_statuses(queues, [], usage(pod("big", "n", "a", count=6)))
    lent = {name: statuses[name].usage[0].lent for name in ("a", "b", "c")}
    assert lent == {"a": "0", "b": "1", "c": "1"}
    assert statuses["a"].usage[0].borrowed == "2"
    assert statuses["org"].usage[0].used == "6"


def test_a_parents_spare_quota_is_lent_by_nobody() -> None:
    queues = {"org": queue("org", None, "10"), "a": queue("a", "org", "4"), "b": queue("b", "org", "4")}
    statuses = queue_statuses(queues, [], usage(pod("big", "n", "a", count=6)))
    assert statuses["b"].usage[0].lent == "0"  # org's 2 beyond its children's nominals cover a's loan


def test_queue_status_has_one_line_of_used_of_nominal_for_kubectl_get() -> None:
    queues = {"org": queue("org", None, "12"), "a": queue("a", "org", "4")}
    statuses = queue_statuses(queues, [], usage(pod("big", "n", "a", count=6)))
    assert statuses["a"].summary == "nvidia.com/gpu 6/4 (2 borrowed), cpu 1/64"
    assert statuses["org"].summary == "nvidia.com/gpu 6/12, cpu 1/64"


def test_a_queue_whose_parent_is_missing_says_it_admits_nothing() -> None:
    queues = {
        "org": queue("org", None, "8"),
        "a": queue("a", "org", "4"),
        "orphan": queue("orphan", "gone", "4"),
    }
    statuses = queue_statuses(queues, [], [])
    assert [(c.type, c.status, c.reason) for c in statuses["a"].conditions] == [
        ("Active", "True", "Admitting")
    ]
    (orphan,) = statuses["orphan"].conditions
    assert (orphan.status, orphan.reason) == ("False", "NotInTree")
    assert orphan.message == "admits nothing: its parent queue gone does not exist"


def test_a_pool_of_amd_compute_partitions_names_the_amd_resources() -> None:
    from motherboard.api.v1alpha1 import DevicePoolSpec
    from motherboard.operator.aggregate import pool_resources

    spec = DevicePoolSpec.model_validate(
        {"vendor": "amd", "model": "MI300X", "sharing": {"mode": "MIG", "migProfiles": ["cpx_nps1"]}}
    )
    assert pool_resources(spec) == ["amd.com/cpx_nps1"]
