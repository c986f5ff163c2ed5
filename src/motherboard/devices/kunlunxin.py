"""Baidu Kunlunxin XPUs (P800, R200) from ``xpu-smi -L``.

``xpu-smi -L`` prints one line per XPU, its index, product name and UUID::

    XPU 0: P800 OAM  GPU-ed733bb8-c4a8-5bb5-9431-14512597fc12

It says nothing of memory or links, so both come from a small table of known products (data, below):
a P800 OAM has 98304 MiB of HBM, and the eight OAMs of a P800 server form two groups of four joined by
XPU Links (``xpu-smi topo -m`` reports ``XL`` inside a group, ``SYS`` across), each group on one NUMA node.
A product not in the table gets memory 0 and no link domain (the scheduler then only counts it).

The container gets ``/dev/xpu<n>`` and the control node ``/dev/xpuctrl``, and ``XPU_VISIBLE_DEVICES``
(read by Kunlunxin's container toolkit and XRE). Caveat: ``/dev/xpu<n>`` is assumed to carry the tool's
index ``n``; on some machines the minor numbers differ from the index (a bus-id mapping would fix that,
and ``xpu-smi -L`` does not print bus ids).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from motherboard.api.constants import RESOURCE_KUNLUNXIN_XPU
from motherboard.devices.backend import (
    ContainerAllocation,
    DeviceNode,
    HealthEvent,
    ShareLimit,
    find_devices,
    share_env,
)
from motherboard.devices.labels import label_value
from motherboard.devices.model import Device, Health, Vendor
from motherboard.devices.smi import presence_health
from motherboard.devices.tools import Runner, poll_health, run_tool
from motherboard.devices.topology import localities, prefer

LIST_COMMAND = ["xpu-smi", "-L"]
QUERY_COMMAND = ["xpu-smi", "-q"]
_LINE = re.compile(r"^\s*XPU\s+(?P<index>\d+):\s*(?P<name>.+?)\s+(?P<uuid>GPU-[0-9A-Fa-f-]+)\s*$")
_DRIVER = re.compile(r"Driver Version\s*:\s*(\S+)")


@dataclass(frozen=True)
class XpuProduct:
    """What ``xpu-smi -L`` does not say about a product."""

    memory_mib: int
    link_group: int | None
    """XPUs per XPU-Link group (consecutive indices), ``None`` when unknown."""


PRODUCTS: dict[str, XpuProduct] = {"P800": XpuProduct(memory_mib=98304, link_group=4)}
"""Known products by the first word of their name."""


@dataclass(frozen=True)
class XpuRow:
    index: int
    name: str
    uuid: str


def parse_xpu_smi_list(text: str) -> list[XpuRow]:
    """Every XPU of ``xpu-smi -L``."""
    return [
        XpuRow(int(m["index"]), m["name"], m["uuid"])
        for line in text.splitlines()
        if (m := _LINE.match(line))
    ]


def to_devices(rows: Sequence[XpuRow], node: str) -> list[Device]:
    out = []
    for row in rows:
        product = PRODUCTS.get(row.name.split()[0].upper())
        group = product.link_group if product else None
        out.append(
            Device(
                id=row.uuid,
                index=row.index,
                vendor=Vendor.KUNLUNXIN,
                model=label_value(row.name),
                memory_mib=product.memory_mib if product else 0,
                resource=RESOURCE_KUNLUNXIN_XPU,
                interconnect_domain=f"{node}-xl{row.index // group}" if group else None,
                device_paths=(f"/dev/xpu{row.index}",),
            )
        )
    return out


def kunlunxin_allocation(devices: Sequence[Device]) -> ContainerAllocation:
    """Expose XPUs: their device nodes, ``/dev/xpuctrl`` and ``XPU_VISIBLE_DEVICES``."""
    nodes = [DeviceNode(f"/dev/xpu{d.index}", f"/dev/xpu{d.index}") for d in devices]
    nodes.append(DeviceNode("/dev/xpuctrl", "/dev/xpuctrl"))
    return ContainerAllocation(
        envs={"XPU_VISIBLE_DEVICES": ",".join(str(d.index) for d in devices)}, devices=nodes
    )


class KunlunxinBackend:
    """:class:`~motherboard.devices.backend.DeviceBackend` over ``xpu-smi``."""

    vendor = Vendor.KUNLUNXIN

    def __init__(self, node: str = "node", run: Runner = run_tool, poll_seconds: float = 5.0) -> None:
        self._node, self._run, self._poll = node, run, poll_seconds
        self._devices: list[Device] = []
        self._seen: set[str] = set()

    def discover(self) -> list[Device]:
        self._devices = to_devices(parse_xpu_smi_list(self._run(LIST_COMMAND)), self._node)
        return list(self._devices)

    def driver_version(self) -> str:
        found = _DRIVER.search(self._run(QUERY_COMMAND))
        return found.group(1) if found else ""

    def _health(self) -> dict[str, Health]:
        self._seen |= {d.id for d in self._devices}  # a device missing from the tool's list stays known
        return presence_health(self._seen, {d.id: Health.HEALTHY for d in self.discover()})

    def watch_health(self, stop: threading.Event) -> Iterator[HealthEvent]:
        return poll_health(self._health, stop, self._poll)

    def preferred_allocation(
        self, available: Sequence[str], must_include: Sequence[str], size: int
    ) -> list[str]:
        return prefer(localities(self._devices), available, must_include, size)

    def allocate(self, device_ids: Sequence[str], share: ShareLimit | None = None) -> ContainerAllocation:
        out = kunlunxin_allocation([device for device, _ in find_devices(self._devices, device_ids)])
        if share is not None:
            out.envs |= share_env(Vendor.KUNLUNXIN, share)
        return out
