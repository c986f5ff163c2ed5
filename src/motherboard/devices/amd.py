"""AMD Instinct GPUs (ROCm) from ``amd-smi list --csv`` and ``amd-smi static``, with compute partitions.

``amd-smi list --csv`` lists every *logical* GPU: a whole GPU in SPX mode, or each compute partition of a
partitioned one. Partitions of one physical GPU share its BDF and UUID::

    gpu,gpu_bdf,gpu_uuid
    0,0000:0c:00.0,c0ff74a1-0000-1000-80b1-06985c515c91
    1,0000:0c:00.0,c0ff74a1-0000-1000-80b1-06985c515c91     (CPX: eight lines per MI300X)

``amd-smi static`` prints one indented block per logical GPU (``GPU: 0`` then ``ASIC:``/``MARKET_NAME``,
``VRAM:``/``SIZE``, ``NUMA:``/``NODE``, ``DRIVER:``/``VERSION``, ``PARTITION:``/``COMPUTE_PARTITION`` and
``MEMORY_PARTITION``). The backend groups the logical GPUs by UUID into physical :class:`Device` s; a
partitioned GPU carries one :class:`Partition` per logical GPU, with profile ``<compute>_<memory>``
(``cpx_nps1``), advertised as ``amd.com/cpx_nps1`` like ROCm's device plugin in its ``mixed`` strategy.
A GPU's mode is read from its own block; where the tool elided it (``...``), from another GPU of the node
(a node's GPUs are partitioned alike in practice), else inferred from the number of partitions.

The container gets ``/dev/kfd`` and the render node of each logical GPU (``/dev/dri/renderD<128+n>``, as
ROCm numbers them), and ``AMD_VISIBLE_DEVICES`` for the AMD container toolkit.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from motherboard.api.constants import RESOURCE_AMD_GPU
from motherboard.api.partitions import COMPUTE_MODES, gpu_family, profile_name
from motherboard.devices.backend import (
    ContainerAllocation,
    DeviceNode,
    HealthEvent,
    ShareLimit,
    find_devices,
    share_env,
)
from motherboard.devices.labels import label_value
from motherboard.devices.model import Device, Health, Partition, Vendor
from motherboard.devices.smi import known_value, parse_blocks, presence_health
from motherboard.devices.tools import Runner, pci_numa_node, poll_health, run_tool
from motherboard.devices.topology import localities, prefer

LIST_COMMAND = ["amd-smi", "list", "--csv"]
STATIC_COMMAND = ["amd-smi", "static"]
RENDER_MINOR_BASE = 128
_GPU_BLOCK = re.compile(r"^GPU:\s*(\d+)\s*$")
_MIB = re.compile(r"(\d+)\s*MB")


@dataclass(frozen=True)
class LogicalGpu:
    """One line of ``amd-smi list``: a whole GPU or one compute partition."""

    gpu: int
    bdf: str
    uuid: str


def parse_amd_smi_list(text: str) -> list[LogicalGpu]:
    """The logical GPUs of ``amd-smi list --csv`` (the header and elided ``...`` lines are skipped)."""
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) >= 3 and cells[0].isdigit():
            out.append(LogicalGpu(int(cells[0]), cells[1], cells[2]))
    return out


def parse_amd_smi_static(text: str) -> dict[int, dict[str, str]]:
    """``{logical GPU: {"SECTION/KEY": value}}`` from ``amd-smi static`` (``CPU:`` blocks are skipped)."""
    return parse_blocks(text, _GPU_BLOCK)


def _model(fields: dict[str, str]) -> str:
    name = known_value(fields.get("ASIC/MARKET_NAME")) or "AMD-GPU"
    return label_value(name.removeprefix("AMD ").removeprefix("Instinct ").strip()) or "AMD-GPU"


def _memory_mib(fields: dict[str, str]) -> int | None:
    found = _MIB.search(fields.get("VRAM/SIZE", ""))
    return int(found.group(1)) if found else None  # amd-smi's "MB" are MiB (96434 MB on a 96 GiB MI300A)


def _mode(blocks: Sequence[dict[str, str]]) -> tuple[str, str] | None:
    for fields in blocks:
        compute = known_value(fields.get("PARTITION/COMPUTE_PARTITION"))
        memory = known_value(fields.get("PARTITION/MEMORY_PARTITION"))
        if compute and memory:
            return compute, memory
    return None


def _inferred_mode(model: str, partitions: int) -> tuple[str, str]:
    modes = COMPUTE_MODES.get(gpu_family(model) or "MI300X", COMPUTE_MODES["MI300X"])
    compute = next((name for name, n in modes.items() if n == partitions), f"{partitions}PX")
    return compute, "NPS1"


def to_devices(
    logical: Sequence[LogicalGpu],
    static: dict[int, dict[str, str]],
    node: str,
    sysfs: Path = Path("/sys"),
) -> tuple[list[Device], dict[str, tuple[int, ...]]]:
    """Physical devices from the logical GPUs, and the logical GPU numbers behind every device/partition id."""
    groups: dict[str, list[LogicalGpu]] = {}
    for gpu in logical:
        groups.setdefault(gpu.uuid or gpu.bdf, []).append(gpu)
    node_mode = _mode([static.get(g.gpu, {}) for g in logical])
    devices: list[Device] = []
    behind: dict[str, tuple[int, ...]] = {}
    for index, members in enumerate(groups.values()):
        blocks = [static.get(g.gpu, {}) for g in members]
        first = next((b for b in blocks if b), {})
        model = _model(first)
        sizes = [_memory_mib(b) for b in blocks]
        memory = sum(s for s in sizes if s is not None)
        device_id = members[0].uuid or f"AMD-{members[0].bdf}"
        numa = known_value(first.get("NUMA/NODE"))
        parts: tuple[Partition, ...] = ()
        if len(members) > 1:
            compute, mem_mode = _mode(blocks) or node_mode or _inferred_mode(model, len(members))
            profile = profile_name(compute, mem_mode)
            # Partitions per GPU from the mode, not from the lines listed: a vanished partition must not
            # make its siblings bigger.
            per_gpu = COMPUTE_MODES.get(gpu_family(model) or "MI300X", {}).get(compute.upper(), len(members))
            parts = tuple(
                Partition(
                    # Named by the logical GPU number amd-smi gives it, so that a partition that vanishes
                    # from the list is the one reported unhealthy.
                    id=f"{device_id}-gpu{gpu.gpu}",
                    profile=profile,
                    start=k,
                    slices=1,
                    milli=1000 // max(per_gpu, len(members)),
                    memory_mib=sizes[k] if sizes[k] is not None else memory // len(members),
                )
                for k, gpu in enumerate(members)
            )
            behind |= {part.id: (gpu.gpu,) for part, gpu in zip(parts, members, strict=True)}
        behind[device_id] = tuple(g.gpu for g in members)
        devices.append(
            Device(
                id=device_id,
                index=index,
                vendor=Vendor.AMD,
                model=model,
                memory_mib=memory,
                resource=RESOURCE_AMD_GPU,
                numa_node=int(numa) if numa and numa.isdigit() else pci_numa_node(members[0].bdf, sysfs),
                # MI300-series OAMs of one node are fully connected by Infinity Fabric (xGMI) links.
                interconnect_domain=f"{node}-xgmi" if gpu_family(model) else None,
                mig_enabled=bool(parts),
                partitions=parts,
                device_paths=tuple(f"/dev/dri/renderD{RENDER_MINOR_BASE + g.gpu}" for g in members),
            )
        )
    return devices, behind


def amd_allocation(logical_gpus: Sequence[int]) -> ContainerAllocation:
    """Expose logical GPUs: ``/dev/kfd``, their render nodes, and ``AMD_VISIBLE_DEVICES``."""
    nodes = [DeviceNode("/dev/kfd", "/dev/kfd")]
    nodes += [
        DeviceNode(f"/dev/dri/renderD{RENDER_MINOR_BASE + g}", f"/dev/dri/renderD{RENDER_MINOR_BASE + g}")
        for g in logical_gpus
    ]
    return ContainerAllocation(
        envs={"AMD_VISIBLE_DEVICES": ",".join(str(g) for g in logical_gpus)}, devices=nodes
    )


class AmdBackend:
    """:class:`~motherboard.devices.backend.DeviceBackend` over ``amd-smi``."""

    vendor = Vendor.AMD

    def __init__(
        self,
        node: str = "node",
        run: Runner = run_tool,
        sysfs: Path = Path("/sys"),
        poll_seconds: float = 5.0,
    ) -> None:
        self._node, self._run, self._sysfs, self._poll = node, run, sysfs, poll_seconds
        self._devices: list[Device] = []
        self._seen: set[str] = set()
        self._behind: dict[str, tuple[int, ...]] = {}
        self._driver = ""

    def discover(self) -> list[Device]:
        static = parse_amd_smi_static(self._run(STATIC_COMMAND))
        logical = parse_amd_smi_list(self._run(LIST_COMMAND))
        self._driver = next((v for f in static.values() if (v := known_value(f.get("DRIVER/VERSION")))), "")
        self._devices, self._behind = to_devices(logical, static, self._node, self._sysfs)
        return list(self._devices)

    def driver_version(self) -> str:
        if not self._driver:
            self.discover()
        return self._driver

    def _health(self) -> dict[str, Health]:
        self._seen |= {i for d in self._devices for i in (d.id, *(p.id for p in d.partitions))}
        current = {i: Health.HEALTHY for d in self.discover() for i in (d.id, *(p.id for p in d.partitions))}
        return presence_health(self._seen, current)

    def watch_health(self, stop: threading.Event) -> Iterator[HealthEvent]:
        return poll_health(self._health, stop, self._poll)

    def preferred_allocation(
        self, available: Sequence[str], must_include: Sequence[str], size: int
    ) -> list[str]:
        return prefer(localities(self._devices), available, must_include, size)

    def allocate(self, device_ids: Sequence[str], share: ShareLimit | None = None) -> ContainerAllocation:
        find_devices(self._devices, device_ids)  # unknown ids raise
        out = amd_allocation([g for i in device_ids for g in self._behind[i]])
        if share is not None:
            out.envs |= share_env(Vendor.AMD, share)
        return out
