"""Units advertised per resource, replica choice, claim matching and the allocation map (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from motherboard.api.assignment import AssignedDevice, ContainerAssignment, DeviceAssignment
from motherboard.deviceplugin.matching import AllocationRefused, match, open_claims
from motherboard.deviceplugin.pods import PodInfo
from motherboard.deviceplugin.resources import advertise, counts, prefer_replicas
from motherboard.deviceplugin.state import AllocationRecord, AllocationStore
from motherboard.devices.model import Device, Health, Partition, Vendor


def gpu(index: int, **extra: object) -> Device:
    return Device.model_validate(
        {"id": f"GPU-{index}", "index": index, "vendor": Vendor.NVIDIA, "model": "A100-80GB",
         "memoryMiB": 81920, "resource": "nvidia.com/gpu", **extra}
    )  # fmt: skip


def one_g(n: int, health: Health = Health.HEALTHY) -> Partition:
    return Partition(
        id=f"MIG-{n}", profile="1g.10gb", start=n, slices=1, milli=142, memory_mib=9856, health=health
    )


def test_each_device_is_advertised_one_way() -> None:
    devices = [
        gpu(0),
        gpu(1, migEnabled=True, partitions=(one_g(0), one_g(1, Health.UNHEALTHY))),
        gpu(2, shareReplicas=3, health=Health.UNHEALTHY),
        Device(id="npu", index=3, vendor=Vendor.HUAWEI, model="Ascend910B", memory_mib=1,
               resource="huawei.com/Ascend910", share_replicas=2),
    ]  # fmt: skip
    assert counts(devices) == {
        "nvidia.com/gpu": 1,
        "nvidia.com/mig-1g.10gb": 2,
        "nvidia.com/gpu.shared": 3,
        "huawei.com/Ascend910.shared": 2,
    }
    units = advertise(devices)
    assert [(u.id, u.health) for u in units["nvidia.com/mig-1g.10gb"]] == [
        ("MIG-0", Health.HEALTHY),
        ("MIG-1", Health.UNHEALTHY),
    ]
    assert next((u.id, u.backend_id, u.healthy) for u in units["nvidia.com/gpu.shared"]) == (
        "GPU-2::0",
        "GPU-2",
        False,
    )


def test_replicas_pack_onto_the_fullest_device_that_fits() -> None:
    units = {
        u.id: u
        for u in advertise([gpu(0, shareReplicas=4), gpu(1, shareReplicas=4)])["nvidia.com/gpu.shared"]
    }
    free = ["GPU-0::0", "GPU-0::1", "GPU-0::2", "GPU-1::3"]
    assert prefer_replicas(units, free, [], 1) == ["GPU-1::3"]  # GPU-1 has one left: fill it first
    assert prefer_replicas(units, free, [], 2) == ["GPU-0::0", "GPU-0::1"]
    assert prefer_replicas(units, free, ["GPU-1::3"], 2) == ["GPU-1::3", "GPU-0::0"]


def pod(
    name: str, *ids: str, node: str = "n0", phase: str = "Pending", resource: str = "nvidia.com/gpu"
) -> PodInfo:
    entry = ContainerAssignment(name="c", resource=resource, devices=tuple(AssignedDevice(id=i) for i in ids))
    annotations = DeviceAssignment(node=node, containers=(entry,)).annotations()
    return PodInfo("ns", name, f"uid-{name}", annotations, phase=phase)


def test_claims_are_pending_pods_on_this_node_not_yet_served(tmp_path: Path) -> None:
    store = AllocationStore(tmp_path / "state.json")
    pods = [
        pod("a", "GPU-0"),
        pod("elsewhere", "GPU-1", node="n1"),
        pod("running", "GPU-2", phase="Running"),
        pod("mig", "MIG-0", resource="nvidia.com/mig-1g.10gb"),
        PodInfo("ns", "broken", "uid-broken", {"motherboard.io/device-assignment": "{not json"}),
        pod("served", "GPU-3"),
    ]
    store.record(AllocationRecord("ns/served", "uid-served", "c", "nvidia.com/gpu", ("GPU-3",)))
    assert [c.pod.name for c in open_claims(pods, "n0", "nvidia.com/gpu", store)] == ["a"]
    # A retry of the served container with the same devices is still its claim.
    assert [c.pod.name for c in open_claims(pods, "n0", "nvidia.com/gpu", store, ["GPU-3"])] == [
        "a",
        "served",
    ]


def test_matching_takes_the_claim_with_exactly_these_devices() -> None:
    claims = open_claims(
        [pod("a", "GPU-0"), pod("b", "GPU-1", "GPU-2")], "n0", "nvidia.com/gpu", AllocationStore(None)
    )
    matched = match(claims, ["GPU-2", "GPU-1"], "nvidia.com/gpu")
    assert matched is not None and matched.pod.name == "b"
    assert match([], ["GPU-9"], "nvidia.com/gpu") is None  # nobody claimed anything: a pod we did not place
    with pytest.raises(AllocationRefused, match=r"pod ns/a container 'c' was assigned \['GPU-0'\]"):
        match(claims, ["GPU-1"], "nvidia.com/gpu")


def test_the_allocation_map_survives_a_reload_and_forgets_deleted_pods(tmp_path: Path) -> None:
    path = tmp_path / "state" / "allocations.json"
    store = AllocationStore(path)
    store.record(AllocationRecord("ns/a", "uid-a", "c", "nvidia.com/gpu", ("GPU-0",)))
    store.record(AllocationRecord("ns/b", "uid-b", "c", "nvidia.com/gpu", ("GPU-1",)))
    reloaded = AllocationStore(path)
    assert sorted(r.pod for r in reloaded.all()) == ["ns/a", "ns/b"]
    assert reloaded.prune(["uid-b"]) == 1
    assert [r.pod for r in AllocationStore(path).all()] == ["ns/b"]
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind
