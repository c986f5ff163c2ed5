"""End to end on simulated devices: what the plugin advertises is what DevicePool requests ask for.

Each DevicePool below mirrors one of ``examples/20-devicepools.yaml``. A simulated node carries the devices
of every pool, shaped as the pool says (MIG layout from its profiles, replicas from ``sharesPerDevice``);
the plugin runs against a fake kubelet, and every resource the operator would request for the pool
(:func:`motherboard.api.resources.device_resources`) must be registered and listed in the right number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from motherboard.api.resources import device_resources
from motherboard.api.v1alpha1.aijob import DeviceRequest
from motherboard.api.v1alpha1.common import SharingMode
from motherboard.api.v1alpha1.devicepool import DevicePool
from motherboard.deviceplugin.proto import pb

from .conftest import FakeKubelet, PluginFactory

POOLS = [
    {"name": "h100-central", "spec": {"site": "central", "vendor": "nvidia", "model": "H100-80GB"}},
    {
        "name": "a100-mig-central",
        "spec": {"vendor": "nvidia", "model": "A100-80GB",
                 "sharing": {"mode": "MIG", "migProfiles": ["1g.10gb", "2g.20gb", "3g.40gb"]}},
    },
    {
        "name": "t4-edge-shared",
        "spec": {"vendor": "nvidia", "model": "T4", "sharing": {"mode": "Fraction", "sharesPerDevice": 10},
                 "isolation": "TimeSlice"},
    },
    {"name": "ascend310p-edge", "spec": {"vendor": "huawei", "model": "Ascend310P"}},
]  # fmt: skip
MEMORY = {"H100-80GB": 81559, "A100-80GB": 81920, "T4": 15360, "Ascend310P": 24576}
DEVICES_PER_POOL = 2


def pool(raw: dict[str, Any]) -> DevicePool:
    return DevicePool.model_validate({"metadata": {"name": raw["name"]}, "spec": raw["spec"]})


def simulated_group(p: DevicePool) -> dict[str, Any]:
    spec = p.spec
    assert spec.model is not None
    group: dict[str, Any] = {
        "vendor": spec.vendor.value, "model": spec.model, "count": DEVICES_PER_POOL, "memoryMiB": MEMORY[spec.model],
    }  # fmt: skip
    if spec.sharing.mode is SharingMode.MIG:
        group["migLayouts"] = [spec.sharing.mig_profiles]
    if spec.sharing.mode is SharingMode.FRACTION:
        group["shareReplicas"] = spec.sharing.shares_per_device
    return group


def requests_for(p: DevicePool) -> list[DeviceRequest]:
    """One request per way the pool hands devices out."""
    sharing = p.spec.sharing
    if sharing.mode is SharingMode.MIG:
        return [
            DeviceRequest(pool=p.metadata.name, sharing={"mode": "MIG", "migProfile": m})
            for m in sharing.mig_profiles
        ]
    if sharing.mode is SharingMode.FRACTION:
        return [DeviceRequest(pool=p.metadata.name, sharing={"mode": "Fraction", "fraction": 0.1})]
    return [DeviceRequest(pool=p.metadata.name, count=DEVICES_PER_POOL)]


def expected_units(p: DevicePool) -> dict[str, int]:
    sharing = p.spec.sharing
    if sharing.mode is SharingMode.MIG:
        return {
            name: DEVICES_PER_POOL
            for name in (next(iter(device_resources(r, p.spec))) for r in requests_for(p))
        }
    (resource,) = device_resources(requests_for(p)[0], p.spec)
    replicas = sharing.shares_per_device if sharing.mode is SharingMode.FRACTION else 1
    return {resource: DEVICES_PER_POOL * (replicas or 1)}


def test_advertised_resources_match_the_device_pools(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any, sim_file: Path
) -> None:
    pools = [pool(raw) for raw in POOLS]
    sim_file.write_text(yaml.safe_dump({"devices": [simulated_group(p) for p in pools]}))
    expected: dict[str, int] = {}
    for p in pools:
        expected |= expected_units(p)

    make_plugin()
    assert kubelet.wait_for(len(expected), timeout=5)
    assert {r.resource_name for r in kubelet.requests} == set(expected)
    listed = {}
    for resource in expected:
        stream = dial(resource).ListAndWatch(pb.Empty(), timeout=5)
        listed[resource] = sum(d.health == "Healthy" for d in next(stream).devices)
        stream.cancel()
    assert listed == expected
    # Every request the operator can make for a pool names a resource the node offers, in enough number.
    for p in pools:
        for request in requests_for(p):
            for resource, count in device_resources(request, p.spec).items():
                assert listed[resource] >= count, (p.metadata.name, resource)
