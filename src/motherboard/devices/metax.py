"""MetaX GPUs (C500, C550, N-series) from the output of ``mx-smi``.

``mx-smi`` prints a boxed table with two rows per GPU, and the kernel driver version in its header::

    | MX-SMI 2.1.6                        Kernel Mode Driver Version: 2.5.014         |
    | GPU         NAME                   | Bus-id              | GPU-Util             |
    | Temp        Power                  | Memory-Usage        |                      |
    | 0           MXC500                 | 0000:05:00.0        | 0%                   |
    | 51C         71W                    | 60982/65536 MiB     |                      |

A process table may follow; it is skipped. The NUMA node comes from sysfs by bus id. The container gets
the control node ``/dev/mxcd`` and the GPU's DRM nodes (``/dev/dri/card<n>``, ``/dev/dri/renderD<128+n>``,
what ``docker run --device=/dev/dri --device=/dev/mxcd`` exposes wholesale), and ``METAX_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from motherboard.api.constants import RESOURCE_METAX_GPU
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
from motherboard.devices.tools import Runner, pci_numa_node, poll_health, run_tool
from motherboard.devices.topology import localities, prefer

COMMAND = ["mx-smi"]
RENDER_MINOR_BASE = 128
_FIRST = re.compile(r"^\s*(?P<index>\d+)\s+(?P<name>\S+)\s*$")
_BUS = re.compile(r"^\s*(?P<bus>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s*$")
_MEMORY = re.compile(r"(\d+)\s*/\s*(\d+)\s*MiB")
_DRIVER = re.compile(r"Kernel Mode Driver Version:\s*(\S+)")


@dataclass(frozen=True)
class MxRow:
    index: int
    name: str
    bus_id: str
    memory_mib: int


def parse_mx_smi(text: str) -> list[MxRow]:
    """Every GPU of the ``mx-smi`` table (pairs of rows; headers, rules and processes are skipped)."""
    cells = [line.strip().strip("|").split("|") for line in text.splitlines() if line.startswith("|")]
    rows = []
    for first, second in itertools.pairwise(cells):
        head = _FIRST.match(first[0]) if len(first) >= 3 else None
        bus = _BUS.match(first[1]) if head and len(first) >= 3 else None
        memory = _MEMORY.search(second[1]) if bus and len(second) >= 3 else None
        if head and bus and memory:
            rows.append(MxRow(int(head["index"]), head["name"], bus["bus"], int(memory.group(2))))
    return rows


def to_devices(rows: Sequence[MxRow], sysfs: Path = Path("/sys")) -> list[Device]:
    return [
        Device(
            id=f"METAX-{row.bus_id.lower().replace(':', '-')}",
            index=row.index,
            vendor=Vendor.METAX,
            model=label_value(row.name),
            memory_mib=row.memory_mib,
            resource=RESOURCE_METAX_GPU,
            numa_node=pci_numa_node(row.bus_id, sysfs),
            device_paths=(f"/dev/dri/card{row.index}", f"/dev/dri/renderD{RENDER_MINOR_BASE + row.index}"),
        )
        for row in rows
    ]


def metax_allocation(devices: Sequence[Device]) -> ContainerAllocation:
    """Expose GPUs: ``/dev/mxcd``, each GPU's DRM nodes, and ``METAX_VISIBLE_DEVICES``."""
    nodes = [DeviceNode("/dev/mxcd", "/dev/mxcd")]
    nodes += [DeviceNode(path, path) for d in devices for path in d.device_paths]
    return ContainerAllocation(
        envs={"METAX_VISIBLE_DEVICES": ",".join(str(d.index) for d in devices)}, devices=nodes
    )


class MetaxBackend:
    """:class:`~motherboard.devices.backend.DeviceBackend` over ``mx-smi``."""

    vendor = Vendor.METAX

    def __init__(self, run: Runner = run_tool, sysfs: Path = Path("/sys"), poll_seconds: float = 5.0) -> None:
        self._run, self._sysfs, self._poll = run, sysfs, poll_seconds
        self._devices: list[Device] = []
        self._seen: set[str] = set()
        self._driver = ""

    def discover(self) -> list[Device]:
        text = self._run(COMMAND)
        found = _DRIVER.search(text)
        self._driver = found.group(1) if found else ""
        self._devices = to_devices(parse_mx_smi(text), self._sysfs)
        return list(self._devices)

    def driver_version(self) -> str:
        if not self._driver:
            self.discover()
        return self._driver

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
        out = metax_allocation([device for device, _ in find_devices(self._devices, device_ids)])
        if share is not None:
            out.envs |= share_env(Vendor.METAX, share)
        return out
