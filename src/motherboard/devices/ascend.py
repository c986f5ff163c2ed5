"""Huawei Ascend NPUs (910B, 310P) from the output of ``npu-smi info``.

``npu-smi info`` prints one block of two table rows per chip::

    | NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
    | Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
    | 0     910B3               | OK            | 93.6        37                0    / 0             |
    | 0                         | 0000:C1:00.0  | 0           0    / 0          3161 / 65536         |

The 310P header reads ``Chip    Device`` and its second row carries the chip's device (``davinci``) id;
910B rows have HBM usage, which is the memory that matters there. A process table may follow; it is
ignored.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from motherboard.api.constants import RESOURCE_ASCEND_910
from motherboard.api.resources import ascend_resource
from motherboard.devices.backend import (
    ContainerAllocation,
    DeviceNode,
    HealthEvent,
    Mount,
    ShareLimit,
    find_devices,
    share_env,
)
from motherboard.devices.model import Device, Health, Vendor
from motherboard.devices.tools import Runner, pci_numa_node, poll_health, run_tool
from motherboard.devices.topology import localities, prefer

_FIRST_ROW = re.compile(r"^\s*(?P<npu>\d+)\s+(?P<name>\S+)\s*$")
_SECOND_ROW = re.compile(r"^\s*(?P<chip>\d+)(?:\s+(?P<device>\d+))?\s*$")
_BUS_ID = re.compile(r"^\s*(?P<bus>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s*$")
_USAGE = re.compile(r"(\d+)\s*/\s*(\d+)")
_HEALTHY_STATES = {"OK", "WARNING"}  # Warning: degraded but usable, as Huawei's own plugin treats it
_CONTROL_NODES = ("/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc")
_DRIVER_MOUNTS = ("/usr/local/Ascend/driver", "/usr/local/sbin/npu-smi")


@dataclass(frozen=True)
class NpuRow:
    """One chip as ``npu-smi info`` reports it."""

    npu: int
    chip: int
    device: int
    name: str
    health: str
    bus_id: str
    memory_mib: int


def parse_npu_smi(text: str) -> list[NpuRow]:
    """Every chip in ``npu-smi info`` output (the two-row blocks; headers and processes are skipped)."""
    rows: list[NpuRow] = []
    cells = [_cells(line) for line in text.splitlines() if line.startswith("|")]
    for first, second in itertools.pairwise(cells):
        head = _FIRST_ROW.match(first[0]) if len(first) >= 3 else None
        tail = _SECOND_ROW.match(second[0]) if len(second) >= 3 else None
        bus = _BUS_ID.match(second[1]) if tail and len(second) >= 3 else None
        if head is None or tail is None or bus is None:
            continue
        usages = [(int(u), int(t)) for u, t in _USAGE.findall(second[2])]
        # 910B: the second pair is HBM (the first is the control CPU's DDR); 310P has only Memory-Usage.
        total = usages[-1][1] if usages else 0
        npu = int(head["npu"])
        device = int(tail["device"]) if tail["device"] is not None else npu
        rows.append(NpuRow(npu, int(tail["chip"]), device, head["name"], first[1].strip(), bus["bus"], total))
    return rows


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def to_devices(rows: Sequence[NpuRow], node: str, sysfs: Path = Path("/sys")) -> list[Device]:
    """Devices from parsed rows: 910 chips on one node share an HCCS domain; 310P cards have none."""
    out = []
    for row in rows:
        resource = ascend_resource(row.name)
        out.append(
            Device(
                id=f"{resource.split('/')[-1]}-{row.device}",
                index=row.device,
                vendor=Vendor.HUAWEI,
                model=f"Ascend{row.name}",
                memory_mib=row.memory_mib,
                resource=resource,
                numa_node=pci_numa_node(row.bus_id, sysfs),
                interconnect_domain=f"{node}-hccs" if resource == RESOURCE_ASCEND_910 else None,
                health=Health.HEALTHY if row.health.upper() in _HEALTHY_STATES else Health.UNHEALTHY,
                device_paths=(f"/dev/davinci{row.device}",),
            )
        )
    return out


def ascend_allocation(devices: Sequence[Device]) -> ContainerAllocation:
    """Expose NPUs: the Ascend docker runtime reads ``ASCEND_VISIBLE_DEVICES``; plain runtimes get nodes."""
    nodes = [DeviceNode(f"/dev/davinci{d.index}", f"/dev/davinci{d.index}") for d in devices]
    nodes += [DeviceNode(path, path) for path in _CONTROL_NODES]
    return ContainerAllocation(
        envs={"ASCEND_VISIBLE_DEVICES": ",".join(str(d.index) for d in devices)},
        devices=nodes,
        mounts=[Mount(path, path) for path in _DRIVER_MOUNTS],
    )


class AscendBackend:
    """:class:`~motherboard.devices.backend.DeviceBackend` over ``npu-smi``."""

    vendor = Vendor.HUAWEI

    def __init__(
        self,
        node: str = "node",
        run: Runner = run_tool,
        sysfs: Path = Path("/sys"),
        poll_seconds: float = 5.0,
    ) -> None:
        self._node, self._run, self._sysfs, self._poll = node, run, sysfs, poll_seconds
        self._devices: list[Device] = []

    def discover(self) -> list[Device]:
        self._devices = to_devices(parse_npu_smi(self._run(["npu-smi", "info"])), self._node, self._sysfs)
        return list(self._devices)

    def driver_version(self) -> str:
        found = re.search(r"Version:\s*(\S+)", self._run(["npu-smi", "info"]))
        return found.group(1) if found else ""

    def watch_health(self, stop: threading.Event) -> Iterator[HealthEvent]:
        return poll_health(lambda: {d.id: d.health for d in self.discover()}, stop, self._poll)

    def preferred_allocation(
        self, available: Sequence[str], must_include: Sequence[str], size: int
    ) -> list[str]:
        return prefer(localities(self._devices), available, must_include, size)

    def allocate(self, device_ids: Sequence[str], share: ShareLimit | None = None) -> ContainerAllocation:
        out = ascend_allocation([device for device, _ in find_devices(self._devices, device_ids)])
        if share is not None:
            out.envs |= share_env(Vendor.HUAWEI, share)
        return out
