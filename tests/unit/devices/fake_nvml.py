"""Realistic NVML answers for A100/H100 nodes, patched onto the real ``pynvml`` module's functions."""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

MIB = 1024 * 1024
A100_80GB_MIB = 81920  # nvidia-smi: 81920MiB
H100_80GB_MIB = 81559  # nvidia-smi: 81559MiB
NO_INSTANCE = 0xFFFFFFFF


@dataclass
class FakeMig:
    """A MIG device: GPU instance (placement, slices) + compute instance, as NVML describes it."""

    uuid: str
    gi_id: int
    gi_slices: int
    memory_mb: int
    start: int
    size: int
    ci_slices: int | None = None


@dataclass
class FakeGpu:
    uuid: str
    name: str
    memory_mib: int
    bus_id: str
    numa: int = 0
    mig: list[FakeMig] | None = None  # None: MIG not supported; []: supported, disabled
    mig_enabled: bool = False
    nvlinks: list[str] = field(default_factory=list)  # remote bus ids, or "switch"
    register_error: int | None = None


def a100_mig_layout(prefix: str) -> list[FakeMig]:
    """3g.40gb at slices 4-7 and two 1g.10gb at 0 and 1 (A100-SXM4-80GB sizes)."""
    return [
        FakeMig(f"MIG-{prefix}-3g", gi_id=2, gi_slices=3, memory_mb=40192, start=4, size=4),
        FakeMig(f"MIG-{prefix}-1g-a", gi_id=9, gi_slices=1, memory_mb=9856, start=0, size=1),
        FakeMig(f"MIG-{prefix}-1g-b", gi_id=10, gi_slices=1, memory_mb=9856, start=1, size=1),
    ]


class FakeNvml:
    """State behind the patched functions; ``events`` feeds ``nvmlEventSetWait_v2``."""

    def __init__(self, gpus: list[FakeGpu], driver: str = "550.54.15") -> None:
        self.gpus, self.driver = gpus, driver
        self.events: queue.Queue[Any] = queue.Queue()
        self.freed = False

    def xid(self, gpu: FakeGpu, xid: int, gi_id: int = NO_INSTANCE) -> None:
        self.events.put(
            SimpleNamespace(
                device=gpu,
                eventType=pynvml.nvmlEventTypeXidCriticalError,
                eventData=xid,
                gpuInstanceId=gi_id,
                computeInstanceId=NO_INSTANCE,
            )
        )

    def install(self, mp: pytest.MonkeyPatch) -> FakeNvml:
        err = pynvml.NVMLError
        by_uuid = {g.uuid: g for g in self.gpus} | {m.uuid: m for g in self.gpus for m in g.mig or []}

        def mig_mode(h: FakeGpu) -> tuple[int, int]:
            if h.mig is None:
                raise err(pynvml.NVML_ERROR_NOT_SUPPORTED)
            mode = pynvml.NVML_DEVICE_MIG_ENABLE if h.mig_enabled else pynvml.NVML_DEVICE_MIG_DISABLE
            return (mode, mode)

        def link_state(h: FakeGpu, link: int) -> int:
            if link >= 12:  # A100/H100 have 12/18 links; the rest of NVML_NVLINK_MAX_LINKS do not exist
                raise err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            return pynvml.NVML_FEATURE_ENABLED if link < len(h.nvlinks) else pynvml.NVML_FEATURE_DISABLED

        def remote_type(h: FakeGpu, link: int) -> int:
            switch = h.nvlinks[link] == "switch"
            return pynvml.NVML_NVLINK_DEVICE_TYPE_SWITCH if switch else pynvml.NVML_NVLINK_DEVICE_TYPE_GPU

        def mig_by_index(h: FakeGpu, i: int) -> FakeMig:
            if not h.mig_enabled or h.mig is None or i >= len(h.mig):
                raise err(pynvml.NVML_ERROR_NOT_FOUND)
            return h.mig[i]

        def attributes(m: FakeMig) -> Any:
            ci = m.ci_slices or m.gi_slices
            return SimpleNamespace(
                gpuInstanceSliceCount=m.gi_slices, computeInstanceSliceCount=ci, memorySizeMB=m.memory_mb
            )

        def gi_by_id(h: FakeGpu, gi_id: int) -> FakeMig:
            return next(m for m in h.mig or [] if m.gi_id == gi_id)

        def register(h: FakeGpu, types: int, es: Any) -> None:
            if h.register_error is not None:
                raise err(h.register_error)

        def wait(es: Any, timeout_ms: int) -> Any:
            try:
                return self.events.get(timeout=min(timeout_ms, 50) / 1000)
            except queue.Empty:
                raise err(pynvml.NVML_ERROR_TIMEOUT) from None

        patches: dict[str, Any] = {
            "nvmlInit": lambda: None,
            "nvmlSystemGetDriverVersion": lambda: self.driver,
            "nvmlDeviceGetCount": lambda: len(self.gpus),
            "nvmlDeviceGetHandleByIndex": lambda i: self.gpus[i],
            "nvmlDeviceGetHandleByUUID": lambda u: by_uuid[u],
            "nvmlDeviceGetUUID": lambda h: h.uuid,
            "nvmlDeviceGetName": lambda h: h.name,
            "nvmlDeviceGetMemoryInfo": lambda h: SimpleNamespace(total=h.memory_mib * MIB),
            "nvmlDeviceGetPciInfo": lambda h: SimpleNamespace(busId=h.bus_id),
            "nvmlDeviceGetNumaNodeId": lambda h: h.numa,
            "nvmlDeviceGetMigMode": mig_mode,
            "nvmlDeviceGetNvLinkState": link_state,
            "nvmlDeviceGetNvLinkRemotePciInfo": lambda h, link: SimpleNamespace(
                busId=h.nvlinks[link] if h.nvlinks[link] != "switch" else "00000000:C0:00.0"
            ),
            "nvmlDeviceGetNvLinkRemoteDeviceType": remote_type,
            "nvmlDeviceGetMaxMigDeviceCount": lambda h: 7 if h.mig is not None else 0,
            "nvmlDeviceGetMigDeviceHandleByIndex": mig_by_index,
            "nvmlDeviceGetAttributes": attributes,
            "nvmlDeviceGetGpuInstanceId": lambda m: m.gi_id,
            "nvmlDeviceGetGpuInstanceById": gi_by_id,
            "nvmlGpuInstanceGetInfo": lambda gi: SimpleNamespace(
                placement=SimpleNamespace(start=gi.start, size=gi.size)
            ),
            "nvmlEventSetCreate": object,
            "nvmlDeviceRegisterEvents": register,
            "nvmlEventSetWait_v2": wait,
            "nvmlEventSetFree": lambda es: setattr(self, "freed", True),
        }
        for name, fn in patches.items():
            mp.setattr(pynvml, name, fn)
        return self
