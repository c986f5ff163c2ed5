"""The plugin's live view of its devices: health updates in, versioned unit lists out.

The health thread applies events; every ``ListAndWatch`` stream waits on the condition for a newer
version, so a change reaches the kubelet as soon as it is applied (well within the 1 s promise).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from motherboard.deviceplugin.resources import Unit, advertise
from motherboard.devices.backend import HealthEvent
from motherboard.devices.model import Device


class LiveInventory:
    """Devices with their current health; thread-safe."""

    def __init__(self, devices: Sequence[Device]) -> None:
        self._cond = threading.Condition()
        self._devices = list(devices)
        self._units = advertise(self._devices)
        self._version = 0
        self._closed = False

    @property
    def resources(self) -> list[str]:
        return list(self._units)

    def devices(self) -> list[Device]:
        with self._cond:
            return list(self._devices)

    def units(self, resource: str) -> list[Unit]:
        with self._cond:
            return list(self._units.get(resource, ()))

    def all_units(self) -> dict[str, list[Unit]]:
        with self._cond:
            return {r: list(u) for r, u in self._units.items()}

    def unit_map(self, resource: str) -> dict[str, Unit]:
        return {u.id: u for u in self.units(resource)}

    def apply(self, event: HealthEvent) -> list[str]:
        """Apply a health change; returns the resources whose units changed (empty: nothing changed)."""
        with self._cond:
            updated = [_with_health(d, event) for d in self._devices]
            if updated == self._devices:
                return []
            before = self._units
            self._devices = updated
            self._units = advertise(updated)
            self._version += 1
            self._cond.notify_all()
            return [r for r in self._units if self._units[r] != before.get(r)]

    def wait_newer(self, version: int, timeout: float) -> int:
        """Block until the version exceeds ``version`` (or ``timeout``, or :meth:`close`); returns it."""
        with self._cond:
            self._cond.wait_for(lambda: self._version > version or self._closed, timeout)
            return self._version

    def close(self) -> None:
        """Wake every waiter for good: the plugin is stopping."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


def _with_health(device: Device, event: HealthEvent) -> Device:
    if device.id == event.device_id:
        return device if device.health is event.health else device.model_copy(update={"health": event.health})
    if not any(p.id == event.device_id for p in device.partitions):
        return device
    parts = tuple(
        p.model_copy(update={"health": event.health}) if p.id == event.device_id else p
        for p in device.partitions
    )
    return device if parts == device.partitions else device.model_copy(update={"partitions": parts})
