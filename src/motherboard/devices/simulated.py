"""Simulated devices described by a YAML file: for tests, the demo, and edge sites without hardware.

A group of devices has the shape of a cluster profile's ``devices`` entry (``model``, ``count``,
``memoryMiB``, ``migLayouts``, ``shareReplicas``), plus what a profile keeps in its catalogue or node
group (``vendor``, ``interconnectDomain``, NUMA placement)::

    driverVersion: "550.54.15"
    devices:
      - {model: A100-80GB, count: 2, memoryMiB: 81920, interconnectDomain: nvl0,
         migLayouts: [[3g.40gb, 2g.20gb, 1g.10gb], []]}      # GPU k takes layout k mod len; [] = whole
      - {model: L4, count: 2, memoryMiB: 23034, shareReplicas: 4, numaNode: 1}
      - {vendor: huawei, model: Ascend910B, count: 8, memoryMiB: 65536}
      - {vendor: amd, model: MI300X, count: 2, memoryMiB: 196608, migLayouts: [[cpx_nps1], []]}
    health: {GPU-sim-0: Unhealthy}        # optional: flip a device or MIG slice by id

The vendor defaults from the model name (``Ascend…`` Huawei, ``MLU…`` Cambricon, ``MI…`` AMD, ``P800…``/
``R200…`` Kunlunxin, ``MXC…`` MetaX, else NVIDIA). Ids are deterministic: ``GPU-sim-<n>`` / ``NPU-sim-<n>`` /
``MLU-sim-<n>`` / ``XPU-sim-<n>`` by index on the node, MIG slices ``MIG-sim-<n>-<k>`` in placement order, AMD
compute partitions ``XCP-sim-<n>-<k>`` (an AMD layout names one mode, e.g. ``[cpx_nps1]``). Health changes at runtime either by rewriting the file (the watcher
polls its modification time) or by :meth:`SimulatedBackend.set_health`. Allocation answers with the
vendor's real environment variables but no device nodes or mounts, since none exist.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from motherboard.api.mig import place_layout
from motherboard.api.partitions import amd_partition
from motherboard.api.resources import whole_device_resource
from motherboard.devices.amd import amd_allocation
from motherboard.devices.ascend import ascend_allocation
from motherboard.devices.backend import ContainerAllocation, HealthEvent, ShareLimit, find_devices, share_env
from motherboard.devices.cambricon import cambricon_allocation
from motherboard.devices.kunlunxin import kunlunxin_allocation
from motherboard.devices.metax import metax_allocation
from motherboard.devices.model import Device, Health, Partition, Vendor
from motherboard.devices.nvidia import nvidia_allocation
from motherboard.devices.topology import localities, prefer

_POLL_SECONDS = 0.1
_ID_PREFIX = {Vendor.HUAWEI: "NPU", Vendor.CAMBRICON: "MLU", Vendor.KUNLUNXIN: "XPU"}  # others: GPU
_MODEL_VENDORS = (
    ("Ascend", Vendor.HUAWEI),
    ("MLU", Vendor.CAMBRICON),
    ("MI", Vendor.AMD),
    ("P800", Vendor.KUNLUNXIN),
    ("R200", Vendor.KUNLUNXIN),
    ("MXC", Vendor.METAX),
)


class SimulatedGroup(BaseModel):
    """``count`` identical devices."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    vendor: Vendor | None = Field(default=None, description="Default: from the model name.")
    model: str = Field(min_length=1)
    count: int = Field(ge=1)
    memory_mib: int = Field(alias="memoryMiB", ge=0)
    interconnect_domain: str | None = Field(default=None, alias="interconnectDomain")
    numa_node: int = Field(default=0, alias="numaNode", ge=0, description="NUMA node of the first device.")
    numa_nodes: int = Field(default=1, alias="numaNodes", ge=1, description="Devices spread over this many.")
    mig_layouts: tuple[tuple[str, ...], ...] = Field(
        default=(),
        alias="migLayouts",
        description="MIG profiles per device: device k takes layout k mod len.",
    )
    share_replicas: int = Field(default=0, alias="shareReplicas", ge=0)

    @property
    def vendor_of(self) -> Vendor:
        if self.vendor is not None:
            return self.vendor
        return next((v for prefix, v in _MODEL_VENDORS if self.model.startswith(prefix)), Vendor.NVIDIA)


class SimulatedConfig(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    driver_version: str = Field(default="simulated", alias="driverVersion")
    devices: tuple[SimulatedGroup, ...] = ()
    health: dict[str, Health] = Field(default_factory=dict, description="Health overrides by device id.")

    @classmethod
    def load(cls, path: Path) -> SimulatedConfig:
        return cls.model_validate(yaml.safe_load(path.read_text()) or {})


def build_devices(config: SimulatedConfig) -> list[Device]:
    """The devices a configuration describes, with its health overrides applied."""
    devices: list[Device] = []
    for group in config.devices:
        for k in range(group.count):
            devices.append(_device(group, len(devices), k, config.health))
    return devices


def _device(group: SimulatedGroup, index: int, k: int, health: dict[str, Health]) -> Device:
    device_id = f"{_ID_PREFIX.get(group.vendor_of, 'GPU')}-sim-{index}"
    layout = group.mig_layouts[k % len(group.mig_layouts)] if group.mig_layouts else ()
    if group.vendor_of is Vendor.AMD:
        parts = _amd_partitions(group, index, layout, health)
    else:
        parts = _mig_partitions(group, index, layout, health)
    return Device(
        id=device_id,
        index=index,
        vendor=group.vendor_of,
        model=group.model,
        memory_mib=group.memory_mib,
        resource=_resource(group),
        numa_node=group.numa_node + k * group.numa_nodes // group.count,
        interconnect_domain=group.interconnect_domain,
        health=health.get(device_id, Health.HEALTHY),
        mig_enabled=bool(parts),
        partitions=parts,
        share_replicas=group.share_replicas,
    )


def _amd_partitions(
    group: SimulatedGroup, index: int, layout: tuple[str, ...], health: dict[str, Health]
) -> tuple[Partition, ...]:
    if not layout:
        return ()
    n = amd_partition(layout[0], group.model).per_gpu
    return tuple(
        Partition(
            id=f"XCP-sim-{index}-{k}",
            profile=layout[0],
            start=k,
            milli=1000 // n,
            memory_mib=group.memory_mib // n,
            health=health.get(f"XCP-sim-{index}-{k}", Health.HEALTHY),
        )
        for k in range(n)
    )


def _mig_partitions(
    group: SimulatedGroup, index: int, layout: tuple[str, ...], health: dict[str, Health]
) -> tuple[Partition, ...]:
    return tuple(
        Partition(
            id=f"MIG-sim-{index}-{n}",
            profile=slot.profile.name,
            start=slot.start,
            slices=slot.profile.memory_slices,
            milli=slot.profile.milli,
            memory_mib=slot.profile.memory_gb * 1024,
            health=health.get(f"MIG-sim-{index}-{n}", Health.HEALTHY),
        )
        for n, slot in enumerate(place_layout(layout, group.model))
    )


def _resource(group: SimulatedGroup) -> str:
    model = group.model.removeprefix("Ascend") if group.vendor_of is Vendor.HUAWEI else group.model
    return whole_device_resource(group.vendor_of, model)


def health_of(devices: Sequence[Device]) -> dict[str, Health]:
    """Health by id, devices and partitions alike."""
    out = {d.id: d.health for d in devices}
    out.update({p.id: p.health for d in devices for p in d.partitions})
    return out


class SimulatedBackend:
    """:class:`~motherboard.devices.backend.DeviceBackend` over a YAML file (or an in-memory config)."""

    def __init__(self, source: Path | SimulatedConfig) -> None:
        self._path = source if isinstance(source, Path) else None
        self._config = SimulatedConfig.load(source) if isinstance(source, Path) else source
        self._overrides: dict[str, Health] = {}
        self._devices = build_devices(self._config)
        self._events: queue.Queue[HealthEvent] = queue.Queue()
        self.vendor = self._config.devices[0].vendor_of if self._config.devices else Vendor.NVIDIA

    def discover(self) -> list[Device]:
        """The devices as the file (re-read) and :meth:`set_health` describe them now."""
        if self._path is not None:
            self._config = SimulatedConfig.load(self._path)
        health = self._config.health | self._overrides
        self._devices = build_devices(self._config.model_copy(update={"health": health}))
        return list(self._devices)

    def driver_version(self) -> str:
        return self._config.driver_version

    def set_health(self, device_id: str, health: Health, reason: str = "set by test") -> None:
        """Flip a device's (or MIG slice's) health; the watcher yields it at once."""
        self._overrides[device_id] = health
        self._events.put(HealthEvent(device_id, health, reason))

    def watch_health(self, stop: threading.Event) -> Iterator[HealthEvent]:
        """Events from :meth:`set_health` and from rewrites of the file (polled every 0.1 s)."""
        last_mtime = self._mtime()
        last = health_of(self._devices)
        while not stop.is_set():
            try:
                event: HealthEvent | None = self._events.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                event = None
            if event is not None:
                yield event
            mtime = self._mtime()
            if mtime == last_mtime or self._path is None:
                continue
            last_mtime = mtime
            current = health_of(build_devices(SimulatedConfig.load(self._path)))
            for device_id, health in current.items():
                if last.get(device_id) not in (None, health):
                    yield HealthEvent(device_id, health, f"rewritten in {self._path.name}")
            last = current

    def _mtime(self) -> int:
        return self._path.stat().st_mtime_ns if self._path is not None and self._path.exists() else 0

    def preferred_allocation(
        self, available: Sequence[str], must_include: Sequence[str], size: int
    ) -> list[str]:
        return prefer(localities(self._devices), available, must_include, size)

    def allocate(self, device_ids: Sequence[str], share: ShareLimit | None = None) -> ContainerAllocation:
        found = find_devices(self._devices, device_ids)
        vendor = found[0][0].vendor if found else self.vendor
        if vendor is Vendor.NVIDIA:
            out = nvidia_allocation(device_ids)
        elif vendor is Vendor.HUAWEI:
            out = ascend_allocation([d for d, _ in found])
        elif vendor is Vendor.AMD:  # a partition's logical GPU number: its device's, then its place in it
            out = amd_allocation([d.index * 8 + _start(d, i) for d, i in found])
        elif vendor is Vendor.KUNLUNXIN:
            out = kunlunxin_allocation([d for d, _ in found])
        elif vendor is Vendor.METAX:
            out = metax_allocation([d for d, _ in found])
        else:
            out = cambricon_allocation([d for d, _ in found])
        # Nothing exists under /dev for simulated devices: keep the env (what workloads read), drop the rest.
        out.devices, out.mounts, out.cdi_devices = [], [], []
        out.envs["MOTHERBOARD_SIMULATED"] = "true"
        if share is not None:
            out.envs |= share_env(vendor, share)
        return out


def _start(device: Device, backend_id: str) -> int:
    return next((p.start for p in device.partitions if p.id == backend_id), 0)
