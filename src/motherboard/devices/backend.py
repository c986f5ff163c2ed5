"""The :class:`DeviceBackend` protocol: what every vendor backend offers the device plugin.

A backend speaks to one kind of hardware (NVML, ``npu-smi``, ``cnmon``, or a YAML file for the simulated
backend) and answers four questions in the vocabulary of :mod:`motherboard.devices.model`:

1. ``discover()``: which devices (and MIG slices / vNPUs) does this node have?
2. ``watch_health(stop)``: a blocking iterator of :class:`HealthEvent` until ``stop`` is set. The plugin runs
   it in its own thread. Each implementation checks ``stop`` at least every half second, so stopping the
   plugin never waits on hardware. An iterator (rather than a callback) keeps the backend free of threads
   and makes tests simple: ``next(backend.watch_health(stop))``.
3. ``preferred_allocation(available, must_include, size)``: which of the available ids to give a container,
   topology first (see :mod:`motherboard.devices.topology`).
4. ``allocate(device_ids, share)``: what the container runtime must do to expose those devices.

Ids are the backend's own: a device's ``id`` or a partition's ``id``. Fractional-share replica ids are a
device-plugin concern and never reach a backend.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Protocol, runtime_checkable

from motherboard.devices.model import Device, Health, Vendor


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine (library or tool missing, driver not loaded).

    The message is one line meant for the operator; the CLI prints it instead of a traceback.
    """


@dataclass(frozen=True)
class HealthEvent:
    """A device (or partition) changed health."""

    device_id: str
    health: Health
    reason: str = ""


@dataclass(frozen=True)
class DeviceNode:
    """A host device node to expose in the container."""

    host_path: str
    container_path: str
    permissions: str = "rw"


@dataclass(frozen=True)
class Mount:
    """A host path to mount into the container."""

    host_path: str
    container_path: str
    read_only: bool = True


@dataclass(frozen=True)
class ShareLimit:
    """The slice of a shared device a container may use (from the scheduler's assignment)."""

    memory_mib: int | None
    milli: int


@dataclass
class ContainerAllocation:
    """What the kubelet must tell the container runtime: the ``ContainerAllocateResponse`` in our types."""

    envs: dict[str, str] = field(default_factory=dict)
    devices: list[DeviceNode] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    cdi_devices: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class DeviceBackend(Protocol):
    """One vendor's hardware, seen through the pure device model."""

    vendor: Vendor

    def discover(self) -> list[Device]:
        """Every device of this node, with partitions and current health."""
        ...

    def driver_version(self) -> str:
        """The vendor driver version (a node label); ``""`` when unknown."""
        ...

    def watch_health(self, stop: threading.Event) -> Iterator[HealthEvent]:
        """Yield health changes until ``stop`` is set; returns within 0.5 s of it being set."""
        ...

    def preferred_allocation(
        self, available: Sequence[str], must_include: Sequence[str], size: int
    ) -> list[str]:
        """``size`` ids out of ``available`` (always including ``must_include``), best topology first."""
        ...

    def allocate(self, device_ids: Sequence[str], share: ShareLimit | None = None) -> ContainerAllocation:
        """The container settings exposing ``device_ids``; ``share`` limits a fractional share."""
        ...


def import_vendor_module(name: str, what: str, install_hint: str) -> ModuleType:
    """Import a vendor library lazily, turning a missing library into a one-line :class:`BackendUnavailable`.

    Vendor libraries are imported only when their backend is chosen, so that the plugin (and the tests)
    run on machines that have none of them.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailable(f"{what} is not available on this machine ({exc}); {install_hint}") from exc


def share_env(vendor: Vendor, share: ShareLimit) -> dict[str, str]:
    """Environment that limits a container to its share of the (single) visible device.

    NVIDIA: the CUDA MPS client limits (device ordinal 0 is the first visible device inside the
    container). Every vendor also gets the vendor-neutral ``MOTHERBOARD_*`` variables, which in-container
    enforcement layers (HAMi-core style) and the workloads themselves can read.
    """
    env = {"MOTHERBOARD_DEVICE_MILLI": str(share.milli)}
    if share.memory_mib is not None:
        env["MOTHERBOARD_DEVICE_MEMORY_LIMIT_MIB"] = str(share.memory_mib)
    if vendor is Vendor.NVIDIA:
        env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = str(max(1, round(share.milli / 10)))
        if share.memory_mib is not None:
            env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = f"0={share.memory_mib}M"
    return env


def find_devices(devices: Sequence[Device], ids: Sequence[str]) -> list[tuple[Device, str]]:
    """Resolve backend ids (device or partition ids) to ``(physical device, id)``; unknown ids raise."""
    by_id: dict[str, Device] = {}
    for device in devices:
        by_id[device.id] = device
        for part in device.partitions:
            by_id[part.id] = device
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise KeyError(f"unknown device ids: {', '.join(missing)}")
    return [(by_id[i], i) for i in ids]
