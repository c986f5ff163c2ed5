"""The device assignment and inventory annotations round-trip and fail loudly when malformed."""

from __future__ import annotations

import json

import pytest

from motherboard.api.assignment import AssignedDevice, AssignmentError, ContainerAssignment, DeviceAssignment
from motherboard.api.base import parse_quantity
from motherboard.api.constants import (
    ANNOTATION_DEVICE_ASSIGNMENT,
    ANNOTATION_DEVICE_INVENTORY,
    mig_resource_name,
)
from motherboard.api.mig import MIG_PROFILES, mig_profile
from motherboard.api.v1alpha1 import find_parent_cycle
from motherboard.devices.model import Device, InventoryError, NodeInventory, Partition, Vendor

MIG_ASSIGNMENT = DeviceAssignment(
    node="gpu-a100-0",
    containers=(
        ContainerAssignment(
            name="trainer",
            resource=mig_resource_name("1g.10gb"),
            devices=(AssignedDevice(id="MIG-2f3c", parent="GPU-8a1b", milli=142, memory_mib=9856),),
        ),
    ),
)


def test_assignment_round_trips_through_the_annotation() -> None:
    annotations = MIG_ASSIGNMENT.annotations()
    assert set(annotations) == {ANNOTATION_DEVICE_ASSIGNMENT}
    assert DeviceAssignment.from_pod_annotations(annotations) == MIG_ASSIGNMENT
    wire = json.loads(annotations[ANNOTATION_DEVICE_ASSIGNMENT])
    assert wire["containers"][0]["devices"][0] == {
        "id": "MIG-2f3c",
        "parent": "GPU-8a1b",
        "milli": 142,
        "memoryMiB": 9856,
    }


def test_assignment_lookup_by_container_and_resource() -> None:
    assert MIG_ASSIGNMENT.for_container("trainer", "nvidia.com/mig-1g.10gb") is not None
    assert MIG_ASSIGNMENT.for_container("trainer", "nvidia.com/gpu") is None
    assert DeviceAssignment.from_pod_annotations({}) is None


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("{not json", "not JSON"),
        ('{"v": 2, "node": "n"}', "format version 2"),
        ('{"v": 1, "node": ""}', "node"),
        ('{"v": 1, "node": "n", "containers": [{"name": "c", "resource": "r", "devices": []}]}', "devices"),
        (
            '{"v": 1, "node": "n", "containers": [{"name": "c", "resource": "r", '
            '"devices": [{"id": "GPU-1", "milli": 1500}]}]}',
            "milli",
        ),
    ],
)
def test_malformed_assignment_is_an_error_naming_the_problem(value: str, complaint: str) -> None:
    with pytest.raises(AssignmentError, match=complaint):
        DeviceAssignment.from_annotation(value)


def test_inventory_round_trips_and_rejects_garbage() -> None:
    inventory = NodeInventory(
        devices=(
            Device(
                id="GPU-1",
                index=0,
                vendor=Vendor.NVIDIA,
                model="A100-80GB",
                memory_mib=81920,
                resource="nvidia.com/gpu",
                mig_enabled=True,
                partitions=(
                    Partition(id="MIG-1", profile="3g.40gb", start=0, slices=4, milli=429, memory_mib=40192),
                ),
            ),
        )
    )
    assert NodeInventory.from_node_annotations(inventory.annotations()) == inventory
    assert NodeInventory.from_node_annotations(None) == NodeInventory()
    with pytest.raises(InventoryError, match=ANNOTATION_DEVICE_INVENTORY):
        NodeInventory.from_annotation('{"devices": [{"id": ""}]}')


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8", 8),
        ("500m", 0.5),
        ("2Gi", 2**31),
        ("1.5k", 1500),
        ("143m", 0.143),
        ("1e3", 1000),
        ("2.5E-1", 0.25),
        ("1E", 10**18),
        (".5", 0.5),
    ],
)
def test_quantities_parse_like_kubernetes(text: str, value: float) -> None:
    assert float(parse_quantity(text)) == pytest.approx(value)


def test_bad_quantity_names_the_fix() -> None:
    with pytest.raises(ValueError, match="500m"):
        parse_quantity("eight")


def test_mig_profiles_are_valid_layouts_with_their_compute_share() -> None:
    for model, table in MIG_PROFILES.items():
        for profile in table.values():
            assert 1 <= profile.compute_slices <= 7, (model, profile)
            assert all(start + profile.memory_slices <= 8 for start in profile.placements), (model, profile)
    assert mig_profile("1g.10gb", "A100-80GB").milli == 142
    assert mig_profile("4g.24gb", "A30-24GB").milli == 1000
    assert sum(mig_profile("1g.10gb").milli for _ in range(7)) <= 1000
    assert mig_profile("7g.80gb").milli == 1000
    with pytest.raises(KeyError, match="unknown MIG profile"):
        mig_profile("5g.50gb")


@pytest.mark.parametrize(
    ("parents", "cycle"),
    [
        ({"org": None, "a": "org", "b": "org"}, None),
        ({"a": "b", "b": "a"}, ["a", "b", "a"]),
        ({"org": None, "a": "c", "b": "a", "c": "b"}, ["a", "c", "b", "a"]),
        ({"a": "a"}, ["a", "a"]),
        ({"a": "missing"}, None),
    ],
)
def test_cycles_in_queue_parents_are_found(parents: dict[str, str | None], cycle: list[str] | None) -> None:
    assert find_parent_cycle(parents) == cycle
