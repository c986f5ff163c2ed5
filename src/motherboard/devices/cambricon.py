"""Cambricon MLUs from the output of ``cnmon info``.

``cnmon info`` prints one indented block per card: ``Card N`` at the margin, then ``Key : Value`` lines;
deeper-indented lines belong to the line above (``Physical Memory Usage`` → ``Total : 24576 MiB``)::

    Card 0
        Product Name                   : MLU370-X8
        UUID                           : 7c0b8e2a-...
        Health State                   :
            Device                     : Good
        Physical Memory Usage          :
            Total                      : 24576 MiB

The parser keeps every value under its section path (``"Physical Memory Usage/Total"``), so fields that a
driver version adds or drops do not break it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from motherboard.api.constants import RESOURCE_CAMBRICON_MLU
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

_CARD = re.compile(r"^Card\s+(\d+)\s*$")
_FIELD = re.compile(r"^(?P<indent>\s+)(?P<key>[^:]+?)\s*:\s*(?P<value>.*?)\s*$")
_MIB = re.compile(r"(\d+)\s*MiB")


def parse_cnmon_info(text: str) -> dict[int, dict[str, str]]:
    """``{card index: {"Section/Key": value}}`` from ``cnmon info`` output."""
    cards: dict[int, dict[str, str]] = {}
    fields: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # open sections: (indent, name)
    for line in text.splitlines():
        card = _CARD.match(line)
        if card:
            fields, stack = {}, []
            cards[int(card.group(1))] = fields
            continue
        found = _FIELD.match(line)
        if found is None or not cards:
            continue
        indent = len(found["indent"].expandtabs())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([name for _, name in stack] + [found["key"]])
        if found["value"]:
            fields.setdefault(path, found["value"])
        # Any line may own deeper ones (``Process : 0`` owns its PID), so every key opens a section.
        stack.append((indent, found["key"]))
    return cards


def _bus_id(fields: dict[str, str]) -> str | None:
    try:
        domain, bus = int(fields["PCI/Domain ID"], 16), int(fields["PCI/Bus num"], 16)
        dev, fn = int(fields["PCI/Device"], 16), int(fields["PCI/Function"], 16)
    except (KeyError, ValueError):
        return None
    return f"{domain:04x}:{bus:02x}:{dev:02x}.{fn:x}"


def to_devices(cards: dict[int, dict[str, str]], sysfs: Path = Path("/sys")) -> list[Device]:
    """Devices from parsed cards; a card whose device health is not ``Good`` is unhealthy."""
    out = []
    for index, fields in sorted(cards.items()):
        memory = _MIB.search(fields.get("Physical Memory Usage/Total", ""))
        state = fields.get("Health State/Device", "Good")
        out.append(
            Device(
                id=fields.get("UUID") or f"MLU-{index}",
                index=index,
                vendor=Vendor.CAMBRICON,
                model=fields.get("Product Name", "MLU"),
                memory_mib=int(memory.group(1)) if memory else 0,
                resource=RESOURCE_CAMBRICON_MLU,
                numa_node=pci_numa_node(_bus_id(fields), sysfs),
                health=Health.HEALTHY if state.lower() == "good" else Health.UNHEALTHY,
                device_paths=(f"/dev/cambricon_dev{index}",),
            )
        )
    return out


def cambricon_allocation(devices: Sequence[Device]) -> ContainerAllocation:
    """Expose MLUs: their device nodes, the control node, ``cnmon``, and ``CAMBRICON_VISIBLE_DEVICES``."""
    nodes = [DeviceNode(f"/dev/cambricon_dev{d.index}", f"/dev/cambricon_dev{d.index}") for d in devices]
    nodes.append(DeviceNode("/dev/cambricon_ctl", "/dev/cambricon_ctl"))
    return ContainerAllocation(
        envs={"CAMBRICON_VISIBLE_DEVICES": ",".join(str(d.index) for d in devices)},
        devices=nodes,
        mounts=[Mount("/usr/bin/cnmon", "/usr/bin/cnmon")],
    )


class CambriconBackend:
    """:class:`~motherboard.devices.backend.DeviceBackend` over ``cnmon``."""

    vendor = Vendor.CAMBRICON

    def __init__(self, run: Runner = run_tool, sysfs: Path = Path("/sys"), poll_seconds: float = 5.0) -> None:
        self._run, self._sysfs, self._poll = run, sysfs, poll_seconds
        self._devices: list[Device] = []
        self._driver = ""

    def discover(self) -> list[Device]:
        cards = parse_cnmon_info(self._run(["cnmon", "info"]))
        self._driver = next((f["Driver"] for f in cards.values() if "Driver" in f), "")
        self._devices = to_devices(cards, self._sysfs)
        return list(self._devices)

    def driver_version(self) -> str:
        if not self._driver:
            self.discover()
        return self._driver

    def watch_health(self, stop: threading.Event) -> Iterator[HealthEvent]:
        return poll_health(lambda: {d.id: d.health for d in self.discover()}, stop, self._poll)

    def preferred_allocation(
        self, available: Sequence[str], must_include: Sequence[str], size: int
    ) -> list[str]:
        return prefer(localities(self._devices), available, must_include, size)

    def allocate(self, device_ids: Sequence[str], share: ShareLimit | None = None) -> ContainerAllocation:
        out = cambricon_allocation([device for device, _ in find_devices(self._devices, device_ids)])
        if share is not None:
            out.envs |= share_env(Vendor.CAMBRICON, share)
        return out
