"""NVIDIA health: critical Xid errors from NVML's event API make a GPU (or a MIG device) unhealthy.

NVML delivers Xids through an event set: register every GPU for ``nvmlEventTypeXidCriticalError`` and wait
with a timeout (``nvmlEventSetWait_v2``), so that the loop sees ``stop`` at least every half second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from motherboard.devices.backend import HealthEvent
from motherboard.devices.model import Device, Health

log = logging.getLogger(__name__)

CRITICAL_XIDS: frozenset[int] = frozenset({48, 63, 64, 74, 79, 92, 94, 95, 119, 120})
"""Xids that mean the hardware (not the application) is at fault.

48 double-bit ECC, 63/64 row remapping, 74 NVLink error, 79 GPU fell off the bus, 92 high single-bit ECC
rate, 94/95 contained/uncontained ECC, 119/120 GSP errors. Application Xids (13, 31, 43, 45, 68, 109:
faults a program causes and survives) never mark a device unhealthy.
"""

_WAIT_MS = 500
_NO_INSTANCE = 0xFFFFFFFF  # NVML's "not a MIG event" value for gpuInstanceId


def watch_xids(
    nv: Any, devices: Sequence[Device], stop: threading.Event, critical: frozenset[int] = CRITICAL_XIDS
) -> Iterator[HealthEvent]:
    """Yield an ``Unhealthy`` event per critical Xid until ``stop`` is set.

    A GPU that cannot be registered for events (other than "not supported") is reported unhealthy at once,
    as the upstream NVIDIA plugin does: it could fail without us ever knowing.
    """
    event_set = nv.nvmlEventSetCreate()
    try:
        yield from _register(nv, devices, event_set)
        while not stop.is_set():
            try:
                data = nv.nvmlEventSetWait_v2(event_set, _WAIT_MS)
            except nv.NVMLError_Timeout:
                continue
            if data.eventType != nv.nvmlEventTypeXidCriticalError:
                continue
            xid = int(data.eventData)
            if xid not in critical:
                log.info("ignoring application Xid %d", xid)
                continue
            target = _event_target(nv, devices, data)
            if target is not None:
                yield HealthEvent(target, Health.UNHEALTHY, f"Xid {xid}")
    finally:
        nv.nvmlEventSetFree(event_set)


def _register(nv: Any, devices: Sequence[Device], event_set: Any) -> Iterator[HealthEvent]:
    for device in devices:
        try:
            handle = nv.nvmlDeviceGetHandleByUUID(device.id)
            nv.nvmlDeviceRegisterEvents(handle, nv.nvmlEventTypeXidCriticalError, event_set)
        except nv.NVMLError_NotSupported:
            log.warning("GPU %s does not report Xid events; its health is not watched", device.id)
        except nv.NVMLError as exc:
            yield HealthEvent(device.id, Health.UNHEALTHY, f"cannot watch Xid events: {exc}")


def _event_target(nv: Any, devices: Sequence[Device], data: Any) -> str | None:
    """The id the Xid is about: the MIG device when NVML names a GPU instance, else the GPU."""
    raw = nv.nvmlDeviceGetUUID(data.device)
    uuid = raw.decode() if isinstance(raw, bytes) else str(raw)
    device = next((d for d in devices if d.id == uuid), None)
    if device is None:
        return None
    gi = int(getattr(data, "gpuInstanceId", _NO_INSTANCE))
    if device.mig_enabled and gi != _NO_INSTANCE:
        for index, part in enumerate(device.partitions):
            if _gpu_instance_id(nv, part.id, index) == gi:
                return part.id
    return device.id


def _gpu_instance_id(nv: Any, mig_uuid: str, fallback: int) -> int:
    try:
        return int(nv.nvmlDeviceGetGpuInstanceId(nv.nvmlDeviceGetHandleByUUID(mig_uuid)))
    except nv.NVMLError:
        return fallback
