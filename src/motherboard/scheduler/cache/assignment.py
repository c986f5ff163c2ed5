"""Turn a placement into the device-assignment annotation the device plugins honour."""

from __future__ import annotations

from motherboard.api.assignment import AssignedDevice, ContainerAssignment, DeviceAssignment
from motherboard.api.resources import partition_resource
from motherboard.scheduler.cache.state import ClusterState
from motherboard.scheduler.cache.types import DeviceKind, Placement


def device_assignment(state: ClusterState, placement: Placement) -> DeviceAssignment:
    """The exact devices of ``placement`` as :class:`DeviceAssignment` (ids from the node's inventory)."""
    pod, node = placement.pod, placement.node
    containers: tuple[ContainerAssignment, ...] = ()
    if pod.devices is not None and placement.picks:
        ids = state.dev_ids[node]
        devices = []
        for pick in placement.picks:
            if pick.partition >= 0:
                part_id = state.partitions.ids[pick.partition]
                devices.append(
                    AssignedDevice(
                        id=part_id, parent=ids[pick.device], milli=pick.milli, memory_mib=pick.memory_mib
                    )
                )
            elif pod.devices.kind is DeviceKind.FRACTION:
                mem = pick.memory_mib or None
                devices.append(AssignedDevice(id=ids[pick.device], milli=pick.milli, memory_mib=mem))
            else:
                devices.append(
                    AssignedDevice(id=ids[pick.device], milli=pick.milli, memory_mib=pick.memory_mib)
                )
        resource = pod.devices.resource
        if pod.devices.kind is DeviceKind.PARTITION and pod.devices.profile:
            # The partition's own resource (nvidia.com/mig-1g.10gb, amd.com/cpx_nps4): what the plugin serves.
            resource = partition_resource(resource, pod.devices.profile)
        containers = (
            ContainerAssignment(name=pod.devices.container, resource=resource, devices=tuple(devices)),
        )
    return DeviceAssignment(node=placement.node_name, containers=containers)
