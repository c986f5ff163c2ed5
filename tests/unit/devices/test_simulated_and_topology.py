"""The simulated backend, topology-aware choice, and node labels."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from motherboard.devices.labels import OWNED_LABELS, label_patch, label_value, node_labels
from motherboard.devices.model import Device, Health, Vendor
from motherboard.devices.simulated import SimulatedBackend, SimulatedConfig, build_devices
from motherboard.devices.topology import Locality, prefer

MIXED = """
driverVersion: "24.1.rc2"
devices:
  - {model: Ascend910B, count: 4, memoryMiB: 65536, interconnectDomain: hccs0, numaNodes: 2}
  - {model: A100-80GB, count: 2, memoryMiB: 81920, migLayouts: [[1g.10gb, 3g.40gb, 2g.20gb], [7g.80gb]]}
  - {vendor: cambricon, model: MLU370-X8, count: 1, memoryMiB: 24576, shareReplicas: 2}
"""


def test_simulated_devices_follow_the_yaml_shapes(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(MIXED)
    backend = SimulatedBackend(path)
    devices = backend.discover()
    assert [d.id for d in devices] == [f"NPU-sim-{i}" for i in range(4)] + [
        "GPU-sim-4",
        "GPU-sim-5",
        "MLU-sim-6",
    ]
    assert [d.numa_node for d in devices[:4]] == [0, 0, 1, 1]
    assert {d.resource for d in devices} == {"huawei.com/Ascend910", "nvidia.com/gpu", "cambricon.com/mlu"}
    # Placed as the driver would: larger instances first, at their first legal start.
    assert [(p.id, p.profile, p.start, p.slices, p.milli, p.memory_mib) for p in devices[4].partitions] == [
        ("MIG-sim-4-0", "3g.40gb", 0, 4, 428, 40960),
        ("MIG-sim-4-1", "2g.20gb", 4, 2, 285, 20480),
        ("MIG-sim-4-2", "1g.10gb", 6, 1, 142, 10240),
    ]
    assert [p.profile for p in devices[5].partitions] == ["7g.80gb"]  # device k takes layout k mod 2
    assert devices[6].share_replicas == 2
    assert backend.driver_version() == "24.1.rc2"
    assert backend.allocate(["NPU-sim-1"]).envs == {
        "ASCEND_VISIBLE_DEVICES": "1",
        "MOTHERBOARD_SIMULATED": "true",
    }
    assert backend.allocate(["MLU-sim-6"]).envs["CAMBRICON_VISIBLE_DEVICES"] == "6"


def test_simulated_health_flips_through_the_method_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(MIXED)
    backend = SimulatedBackend(path)
    stop = threading.Event()
    events = backend.watch_health(stop)
    backend.set_health("NPU-sim-2", Health.UNHEALTHY)
    assert next(events).device_id == "NPU-sim-2"
    assert {d.id: d.health for d in backend.discover()}["NPU-sim-2"] is Health.UNHEALTHY
    path.write_text(MIXED + "health: {MIG-sim-4-2: Unhealthy}\n")
    event = next(events)
    assert (event.device_id, event.health) == ("MIG-sim-4-2", Health.UNHEALTHY)
    stop.set()
    assert list(events) == []


def test_a_malformed_simulated_file_names_the_field() -> None:
    with pytest.raises(ValidationError, match="count"):
        SimulatedConfig.model_validate({"devices": [{"vendor": "nvidia", "model": "L4", "memoryMiB": 1}]})

    def gpu_with(layout: list[str]) -> SimulatedConfig:
        group = {"model": "A100-80GB", "count": 1, "memoryMiB": 81920, "migLayouts": [layout]}
        return SimulatedConfig.model_validate({"devices": [group]})

    with pytest.raises(ValueError, match=r"unknown MIG profile.*huge"):
        build_devices(gpu_with(["huge"]))
    with pytest.raises(ValueError, match="does not fit one A100-80GB"):
        build_devices(gpu_with(["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]))  # no 1g may start at slice 7


PLACES = {
    "a0": Locality("nvl-a", 0, 0),
    "a1": Locality("nvl-a", 0, 1),
    "a2": Locality("nvl-a", 1, 2),
    "b0": Locality("nvl-b", 1, 3),
    "b1": Locality("nvl-b", 1, 4),
    "x": Locality(None, None, 5),
}


@pytest.mark.parametrize(
    ("available", "must", "size", "expected"),
    [
        (["a0", "a1", "a2", "b0", "b1"], [], 2, ["b0", "b1"]),  # best fit: the smaller domain that fits
        (["a0", "a1", "a2", "b0", "b1"], [], 3, ["a0", "a1", "a2"]),
        (["a0", "a1", "a2", "b0", "b1"], ["a2"], 2, ["a2", "a0"]),  # stay in the must-include's domain
        (["a0", "a1", "a2", "b0", "b1"], [], 1, ["b0"]),
        (["a0", "a2", "b0", "x"], [], 3, ["a0", "a2", "b0"]),  # spread: largest domains first, unknown last
        (["a0", "a1", "a2"], ["a2"], 1, ["a2"]),
    ],
)
def test_preferred_choice_keeps_devices_together(
    available: list[str], must: list[str], size: int, expected: list[str]
) -> None:
    assert prefer(PLACES, available, must, size) == expected


def a100(index: int, mig: bool = False) -> Device:
    return Device(
        id=f"GPU-{index}", index=index, vendor=Vendor.NVIDIA, model="A100-80GB", memory_mib=81920,
        resource="nvidia.com/gpu", mig_enabled=mig,
    )  # fmt: skip


def test_node_labels_describe_the_main_device_kind_and_site() -> None:
    npu = Device(
        id="n",
        index=9,
        vendor=Vendor.HUAWEI,
        model="Ascend910B",
        memory_mib=65536,
        resource="huawei.com/Ascend910",
    )
    labels = node_labels([a100(0), a100(1, mig=True), npu], "550.54.15", site="edge-lyon", site_kind="edge")
    assert labels == {
        "motherboard.io/site": "edge-lyon",
        "motherboard.io/site-kind": "edge",
        "motherboard.io/accelerator-vendor": "nvidia",
        "motherboard.io/accelerator-model": "A100-80GB",
        "motherboard.io/accelerator-count": "2",
        "motherboard.io/accelerator-memory-mib": "81920",
        "motherboard.io/driver-version": "550.54.15",
        "nvidia.com/gpu.product": "NVIDIA-A100-80GB",
        "nvidia.com/gpu.memory": "81920",
        "nvidia.com/gpu.count": "2",
        "nvidia.com/mig.capable": "true",
        "nvidia.com/mig.strategy": "mixed",
    }
    assert set(labels) <= set(OWNED_LABELS)


def test_label_patch_removes_owned_labels_that_no_longer_apply() -> None:
    patch = label_patch(node_labels([a100(0)], ""))
    assert patch["nvidia.com/mig.strategy"] == "none"
    assert patch["motherboard.io/driver-version"] is None and patch["motherboard.io/site"] is None
    assert label_value("v5.10.22 (beta)") == "v5.10.22-beta"
    assert node_labels([], "", site="central") == {"motherboard.io/site": "central"}
