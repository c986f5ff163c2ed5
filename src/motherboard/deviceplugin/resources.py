"""What the plugin advertises to the kubelet: devices turned into units of extended resources.

Each physical device is advertised exactly one way, chosen by how it is configured:

- MIG enabled: each MIG device as one unit of ``nvidia.com/mig-<profile>`` (NVIDIA's ``mixed`` naming;
  AMD compute partitions as ``amd.com/<compute>_<memory>``, ROCm's ``mixed`` naming; other vendors'
  partitions as ``<resource>-<profile>``); the whole GPU is not advertised;
- shared (``share_replicas = N``): N replicas ``<device id>::<k>`` of ``nvidia.com/gpu.shared``
  (``<resource>.shared`` for other vendors);
- otherwise the whole device under its own resource (``nvidia.com/gpu``, ``huawei.com/Ascend910``, …).

A unit's ``backend_id`` is the id the backend and the scheduler's assignment speak of: the device id for
whole devices and replicas, the partition id for MIG devices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from motherboard.api.resources import partition_resource as vendor_partition_resource
from motherboard.api.resources import shared_resource as vendor_shared_resource
from motherboard.devices.model import Device, Health, Partition

REPLICA_SEPARATOR = "::"


@dataclass(frozen=True)
class Unit:
    """One thing the kubelet counts: a device, a MIG device, or one replica of a shared device."""

    id: str
    resource: str
    backend_id: str
    device: Device
    health: Health
    replica: int | None = None

    @property
    def healthy(self) -> bool:
        return self.health is Health.HEALTHY


def partition_resource(device: Device, part: Partition) -> str:
    return vendor_partition_resource(device.resource, part.profile)


def shared_resource(device: Device) -> str:
    return vendor_shared_resource(device.vendor, device.resource)


def advertise(devices: Sequence[Device]) -> dict[str, list[Unit]]:
    """Units per resource name, in device order. A partition is unhealthy when its device is."""
    out: dict[str, list[Unit]] = {}
    for device in devices:
        if device.mig_enabled:
            for part in device.partitions:
                health = part.health if device.healthy else Health.UNHEALTHY
                unit = Unit(part.id, partition_resource(device, part), part.id, device, health)
                out.setdefault(unit.resource, []).append(unit)
        elif device.share_replicas > 0:
            resource = shared_resource(device)
            for k in range(device.share_replicas):
                replica_id = f"{device.id}{REPLICA_SEPARATOR}{k}"
                out.setdefault(resource, []).append(
                    Unit(replica_id, resource, device.id, device, device.health, k)
                )
        else:
            out.setdefault(device.resource, []).append(
                Unit(device.id, device.resource, device.id, device, device.health)
            )
    return out


def counts(devices: Sequence[Device]) -> dict[str, int]:
    """How many units of each resource the devices make (what the kubelet will report as capacity)."""
    return {resource: len(units) for resource, units in advertise(devices).items()}


def prefer_replicas(
    units: Mapping[str, Unit], available: Sequence[str], must_include: Sequence[str], size: int
) -> list[str]:
    """Replicas for one container: on as few devices as possible, the fullest device that fits first.

    Packing replicas keeps other devices free for containers that need a whole share set; must-include
    replicas pin their devices first.
    """
    chosen = list(dict.fromkeys(must_include))
    free: dict[str, list[str]] = {}
    for unit_id in available:
        if unit_id in units and unit_id not in chosen:
            free.setdefault(units[unit_id].backend_id, []).append(unit_id)
    pinned = {units[u].backend_id for u in chosen if u in units}
    need = size - len(chosen)

    def rank(device_id: str) -> tuple[int, int]:
        n = len(free[device_id])
        if device_id in pinned:
            return (0, 0)
        return (1, n) if n >= need else (2, -n)

    for device_id in sorted(free, key=rank):
        if need <= 0:
            break
        take = free[device_id][:need]
        chosen += take
        need -= len(take)
    return chosen
