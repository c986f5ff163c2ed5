"""NVIDIA GPUs through NVML (``nvidia-ml-py``, imported lazily as ``pynvml``).

Discovery reads every GPU (UUID, product, memory, NUMA node), its MIG devices when MIG mode is on (GPU
instance profile, placement, compute share) and its NVLink peers, from which it derives NVLink domains.
Xid health events live in :mod:`motherboard.devices.nvidia_health`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from motherboard.api.constants import RESOURCE_NVIDIA_GPU
from motherboard.devices import mig
from motherboard.devices.backend import (
    BackendUnavailable,
    ContainerAllocation,
    HealthEvent,
    ShareLimit,
    find_devices,
    import_vendor_module,
    share_env,
)
from motherboard.devices.model import Device, Partition, Vendor
from motherboard.devices.topology import localities, prefer

_MIB = 1024 * 1024
_INTERFACE_TOKENS = {"SXM", "SXM2", "SXM4", "SXM5", "PCIE", "HBM3", "HBM3E", "NVL"}
NVSWITCH = "nvswitch"
"""Pseudo-peer of every GPU wired to an NVSwitch: they share one NVLink fabric."""


def normalize_model(name: str) -> str:
    """``NVIDIA A100-80GB`` → ``A100-80GB``; ``NVIDIA H100 80GB HBM3`` → ``H100-80GB``."""
    words = name.replace("NVIDIA", "").replace("-", " ").split()
    return "-".join(w for w in words if w.upper() not in _INTERFACE_TOKENS) or name


def nvidia_allocation(ids: Sequence[str]) -> ContainerAllocation:
    """Expose GPUs or MIG devices by UUID: the NVIDIA container runtime reads the env, CDI the names.

    No device nodes are listed: the NVIDIA runtime (or the CDI spec) injects ``/dev/nvidia*`` and the
    driver libraries, as the upstream plugin's default ``envvar`` strategy does.
    """
    return ContainerAllocation(
        envs={"NVIDIA_VISIBLE_DEVICES": ",".join(ids)},
        cdi_devices=[f"nvidia.com/gpu={i}" for i in ids],
    )


def nvlink_domains(peers: dict[str, set[str]], node: str) -> dict[str, str]:
    """Group GPUs (by PCI bus id) into NVLink domains: connected components of the peer graph.

    ``peers`` maps each GPU's bus id to the bus ids (or :data:`NVSWITCH`) its active links reach. GPUs
    without any link get no domain. A domain is named after the node and its lowest bus id.
    """
    parent = {bus: bus for bus in peers} | {NVSWITCH: NVSWITCH}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for bus, remote in peers.items():
        for other in remote:
            if other in parent:
                parent[root(bus)] = root(other)
    members: dict[str, list[str]] = {}
    for bus, remote in peers.items():
        if remote:
            members.setdefault(root(bus), []).append(bus)
    return {bus: f"{node}-nvlink-{min(group).lower()}" for group in members.values() for bus in group}


class NvmlBackend:
    """:class:`~motherboard.devices.backend.DeviceBackend` over NVML."""

    vendor = Vendor.NVIDIA

    def __init__(self, node: str = "node", critical_xids: frozenset[int] | None = None) -> None:
        self._node = node
        self._critical_xids = critical_xids
        self._nv: Any = None
        self._devices: list[Device] = []
        self._lock = threading.Lock()

    def nvml(self) -> Any:
        """The initialised ``pynvml`` module (imported and initialised on first use)."""
        with self._lock:
            if self._nv is None:
                nv = import_vendor_module("pynvml", "NVML (nvidia-ml-py)", "pip install nvidia-ml-py")
                try:
                    nv.nvmlInit()
                except nv.NVMLError as exc:
                    raise BackendUnavailable(
                        f"NVML could not start: {exc} (is the NVIDIA driver loaded?)"
                    ) from exc
                self._nv = nv
            return self._nv

    def driver_version(self) -> str:
        return _text(self.nvml().nvmlSystemGetDriverVersion())

    def discover(self) -> list[Device]:
        nv = self.nvml()
        gpus: list[tuple[Any, Device, str]] = []
        peers: dict[str, set[str]] = {}
        for index in range(nv.nvmlDeviceGetCount()):
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            bus = _text(nv.nvmlDeviceGetPciInfo(handle).busId)
            peers[bus] = _nvlink_peers(nv, handle)
            gpus.append((handle, self._gpu(nv, handle, index), bus))
        domains = nvlink_domains(peers, self._node)
        self._devices = [d.model_copy(update={"interconnect_domain": domains.get(bus)}) for _, d, bus in gpus]
        return list(self._devices)

    def _gpu(self, nv: Any, handle: Any, index: int) -> Device:
        memory_mib = int(nv.nvmlDeviceGetMemoryInfo(handle).total) // _MIB
        mig_on = _mig_enabled(nv, handle)
        return Device(
            id=_text(nv.nvmlDeviceGetUUID(handle)),
            index=index,
            vendor=Vendor.NVIDIA,
            model=normalize_model(_text(nv.nvmlDeviceGetName(handle))),
            memory_mib=memory_mib,
            resource=RESOURCE_NVIDIA_GPU,
            numa_node=_numa_node(nv, handle),
            mig_enabled=mig_on,
            partitions=tuple(_mig_devices(nv, handle, memory_mib)) if mig_on else (),
        )

    def watch_health(self, stop: threading.Event) -> Iterator[HealthEvent]:
        from motherboard.devices.nvidia_health import CRITICAL_XIDS, watch_xids

        devices = self._devices or self.discover()
        return watch_xids(self.nvml(), devices, stop, self._critical_xids or CRITICAL_XIDS)

    def preferred_allocation(
        self, available: Sequence[str], must_include: Sequence[str], size: int
    ) -> list[str]:
        return prefer(localities(self._devices), available, must_include, size)

    def allocate(self, device_ids: Sequence[str], share: ShareLimit | None = None) -> ContainerAllocation:
        find_devices(self._devices, device_ids)  # unknown ids are a bug upstream: fail loudly
        out = nvidia_allocation(device_ids)
        if share is not None:
            out.envs |= share_env(Vendor.NVIDIA, share)
        return out


def _text(value: str | bytes) -> str:
    """NVML returns ``bytes`` in old bindings and ``str`` in new ones."""
    return value.decode() if isinstance(value, bytes) else value


def _mig_enabled(nv: Any, handle: Any) -> bool:
    try:
        current, _pending = nv.nvmlDeviceGetMigMode(handle)
    except nv.NVMLError:  # NotSupported: not a MIG-capable GPU
        return False
    return bool(current == nv.NVML_DEVICE_MIG_ENABLE)


def _numa_node(nv: Any, handle: Any) -> int | None:
    try:
        node = int(nv.nvmlDeviceGetNumaNodeId(handle))
    except (nv.NVMLError, AttributeError):  # older drivers or bindings
        return None
    return node if node >= 0 else None


def _nvlink_peers(nv: Any, handle: Any) -> set[str]:
    """Bus ids reached by the GPU's active NVLinks (:data:`NVSWITCH` for switch ports)."""
    out: set[str] = set()
    for link in range(nv.NVML_NVLINK_MAX_LINKS):
        try:
            if nv.nvmlDeviceGetNvLinkState(handle, link) != nv.NVML_FEATURE_ENABLED:
                continue
            remote = _text(nv.nvmlDeviceGetNvLinkRemotePciInfo(handle, link).busId)
            kind = nv.nvmlDeviceGetNvLinkRemoteDeviceType(handle, link)
        except nv.NVMLError:  # no such link on this GPU, or NVLink unsupported
            continue
        out.add(NVSWITCH if kind == nv.NVML_NVLINK_DEVICE_TYPE_SWITCH else remote)
    return out


def _mig_devices(nv: Any, handle: Any, device_memory_mib: int) -> Iterator[Partition]:
    """The MIG devices (GPU instance + compute instance) currently created on a GPU."""
    max_count = int(nv.nvmlDeviceGetMaxMigDeviceCount(handle))
    for slot in range(max_count):
        try:
            mig_handle = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except nv.NVMLError:  # NotFound: the slot is empty
            continue
        attrs = nv.nvmlDeviceGetAttributes(mig_handle)
        gi_id = int(nv.nvmlDeviceGetGpuInstanceId(mig_handle))
        placement = nv.nvmlGpuInstanceGetInfo(nv.nvmlDeviceGetGpuInstanceById(handle, gi_id)).placement
        profile = mig.profile_name(
            attrs.gpuInstanceSliceCount,
            attrs.computeInstanceSliceCount,
            attrs.memorySizeMB,
            device_memory_mib,
        )
        yield Partition(
            id=_text(nv.nvmlDeviceGetUUID(mig_handle)),
            profile=profile,
            start=int(placement.start),
            slices=int(placement.size),
            milli=mig.milli(int(attrs.gpuInstanceSliceCount), max_count),
            memory_mib=int(attrs.memorySizeMB),
        )
