"""The ``v1beta1.DevicePlugin`` gRPC service for one extended resource (a thin adapter over the allocator).

Method names follow the generated servicer (``DevicePluginServicer``); gRPC dispatches to them by name.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import grpc

from motherboard.deviceplugin.allocator import Allocator
from motherboard.deviceplugin.inventory import LiveInventory
from motherboard.deviceplugin.matching import AllocationRefused
from motherboard.deviceplugin.proto import pb
from motherboard.deviceplugin.resources import Unit
from motherboard.devices.backend import ContainerAllocation

log = logging.getLogger(__name__)

STREAM_WAKE_SECONDS = 0.25
"""How often an idle ``ListAndWatch`` stream checks whether it should end (server stopping, client gone)."""


def to_pb_devices(units: Sequence[Unit]) -> list[pb.Device]:
    out = []
    for unit in units:
        numa = unit.device.numa_node
        topology = pb.TopologyInfo(nodes=[pb.NUMANode(ID=numa)]) if numa is not None else None
        out.append(pb.Device(ID=unit.id, health=unit.health.value, topology=topology))
    return out


def to_pb_allocation(alloc: ContainerAllocation) -> pb.ContainerAllocateResponse:
    return pb.ContainerAllocateResponse(
        envs=alloc.envs,
        mounts=[
            pb.Mount(container_path=m.container_path, host_path=m.host_path, read_only=m.read_only)
            for m in alloc.mounts
        ],
        devices=[
            pb.DeviceSpec(container_path=d.container_path, host_path=d.host_path, permissions=d.permissions)
            for d in alloc.devices
        ],
        annotations=alloc.annotations,
        cdi_devices=[pb.CDIDevice(name=name) for name in alloc.cdi_devices],
    )


class DevicePluginService:
    """One resource's ``DevicePlugin`` service."""

    def __init__(
        self, resource: str, inventory: LiveInventory, allocator: Allocator, stopping: threading.Event
    ):
        self.resource = resource
        self._inventory, self._allocator, self._stopping = inventory, allocator, stopping

    def GetDevicePluginOptions(self, request: pb.Empty, context: Any) -> pb.DevicePluginOptions:  # noqa: N802
        return pb.DevicePluginOptions(pre_start_required=False, get_preferred_allocation_available=True)

    def ListAndWatch(self, request: pb.Empty, context: Any) -> Iterator[pb.ListAndWatchResponse]:  # noqa: N802
        """The full list now, then again after every change, until the server stops or the kubelet leaves."""
        version = -1
        while not self._stopping.is_set() and not self._inventory.closed and context.is_active():
            current = self._inventory.wait_newer(version, STREAM_WAKE_SECONDS)
            if current != version:
                version = current
                yield pb.ListAndWatchResponse(devices=to_pb_devices(self._inventory.units(self.resource)))

    def GetPreferredAllocation(  # noqa: N802
        self, request: pb.PreferredAllocationRequest, context: Any
    ) -> pb.PreferredAllocationResponse:
        responses = []
        for req in request.container_requests:
            ids = self._allocator.preferred(
                self.resource,
                list(req.available_deviceIDs),
                list(req.must_include_deviceIDs),
                req.allocation_size,
            )
            responses.append(pb.ContainerPreferredAllocationResponse(deviceIDs=ids))
        return pb.PreferredAllocationResponse(container_responses=responses)

    def Allocate(self, request: pb.AllocateRequest, context: Any) -> pb.AllocateResponse:  # noqa: N802
        responses = []
        for req in request.container_requests:
            try:
                alloc = self._allocator.allocate(self.resource, list(req.devices_ids))
            except AllocationRefused as exc:
                log.warning("refused %s %s: %s", self.resource, list(req.devices_ids), exc)
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
                raise  # abort raises; this line only satisfies type checkers
            responses.append(to_pb_allocation(alloc))
        return pb.AllocateResponse(container_responses=responses)

    def PreStartContainer(  # noqa: N802
        self, request: pb.PreStartContainerRequest, context: Any
    ) -> pb.PreStartContainerResponse:
        return pb.PreStartContainerResponse()
