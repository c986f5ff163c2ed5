"""What the scheduler core reads and writes: node specs, pod requests and device picks.

Plain frozen dataclasses, no Kubernetes types: the Kubernetes adapter (a later issue) and the trace simulator
both translate into these, so the same placement code serves both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from motherboard.api.constants import RESOURCE_NVIDIA_GPU
from motherboard.devices.model import NodeInventory, Vendor

WHOLE_MILLI = 1000
"""One whole device in thousandths: the unit of every compute share in the core."""


class DeviceKind(StrEnum):
    """How a pod wants its devices."""

    WHOLE = "Whole"
    """Whole physical devices (GPUs or NPUs), exclusively."""
    FRACTION = "Fraction"
    """A share of one device: ``milli`` of its compute and ``memory_mib`` of its memory."""
    PARTITION = "Partition"
    """Hardware partitions of a named profile: MIG instances or Ascend vNPUs."""


class TopologyLevel(StrEnum):
    """How close the pods of one gang (or the devices of one pod) must be."""

    NODE = "Node"
    NVLINK = "NVLinkDomain"
    RACK = "Rack"
    SITE = "Site"


@dataclass(frozen=True, slots=True)
class TopologyRule:
    """Keep a gang within one domain of ``level``; ``required`` rejects, otherwise only scores."""

    level: TopologyLevel
    required: bool = True


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """The accelerators one pod asks for (one extended resource, in one container)."""

    kind: DeviceKind = DeviceKind.WHOLE
    count: int = 1
    milli: int = WHOLE_MILLI
    """Compute per device in thousandths (1000 for whole devices)."""
    memory_mib: int = 0
    """Device memory per device for fractional shares (0: no memory bound)."""
    profile: str | None = None
    """MIG or vNPU profile for :attr:`DeviceKind.PARTITION`, e.g. ``1g.10gb``."""
    resource: str = RESOURCE_NVIDIA_GPU
    models: tuple[str, ...] = ()
    """Allowed device models (empty: any)."""
    vendor: Vendor | None = None
    container: str = "main"

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("a device request needs count >= 1")
        if not 1 <= self.milli <= WHOLE_MILLI:
            raise ValueError(f"milli must be in 1..{WHOLE_MILLI}, got {self.milli}")
        if self.kind is DeviceKind.FRACTION and self.count != 1:
            raise ValueError("a fractional share is a share of exactly one device")
        if self.kind is DeviceKind.PARTITION and not self.profile:
            raise ValueError("a partition request must name its profile")

    @property
    def total_milli(self) -> int:
        """Compute charged for the whole request, in thousandths of a device."""
        return self.milli * self.count


@dataclass(frozen=True, slots=True)
class PodRequest:
    """One pod as the scheduler sees it: resources, constraints, and the gang it belongs to."""

    name: str
    cpu_milli: int = 0
    memory_mib: int = 0
    devices: DeviceRequest | None = None
    group: str | None = None
    """Pod group (gang) name: the group is placed all-or-nothing."""
    topology: TopologyRule | None = None
    site: str | None = None
    """Required site name (``motherboard.io/site``)."""
    site_kind: str | None = None
    """Required site kind, ``central`` or ``edge``."""
    preferred_site_kind: str | None = None
    preferred_sites: tuple[str, ...] = ()
    """Sites to prefer, most preferred first (``placement.preferredSites``)."""
    priority: int = 0
    queue: str = "default"
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    tolerations: tuple[Toleration, ...] = ()
    """Taints the pod tolerates (only checked where the placer knows the nodes' taints)."""
    node_selector: tuple[NodeSelectorTerm, ...] = ()
    """Required node affinity: the pod fits a node whose labels satisfy any one term (empty: any node)."""

    @property
    def gpu_milli(self) -> int:
        """Device compute the pod asks for in total (0 without devices)."""
        return 0 if self.devices is None else self.devices.total_milli

    def task_class(self) -> tuple[object, ...]:
        """The resource shape: pods of one class score alike on the same node state, so caches key on it."""
        d = self.devices
        shape = None if d is None else (d.kind, d.count, d.milli, d.memory_mib, d.profile, d.models, d.vendor)
        return (self.cpu_milli, self.memory_mib, shape)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node: allocatable CPU and memory, labels, and the device inventory its plugin published."""

    name: str
    cpu_milli: int
    memory_mib: int
    inventory: NodeInventory = field(default_factory=NodeInventory)
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    schedulable: bool = True
    share_all: bool = False
    """Treat every healthy non-MIG device as shareable (the simulator's GPU-sharing cluster)."""
    taints: tuple[Taint, ...] = ()
    """The node's taints; pods must tolerate the blocking ones."""
    max_pods: int = 0
    """Allocatable ``pods`` (the kubelet's ``maxPods``); 0: no limit (the simulator's trace nodes)."""


@dataclass(frozen=True, slots=True)
class DevicePick:
    """One device (or partition) given to a pod, by index into the node's state."""

    device: int
    """Index of the physical device on the node."""
    milli: int
    memory_mib: int
    partition: int = -1
    """Global partition index for MIG/vNPU picks; -1 for whole devices and shares."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one pod goes: the node and the exact devices."""

    pod: PodRequest
    node: int
    node_name: str
    picks: tuple[DevicePick, ...] = ()


# --- node constraints (taints, tolerations, node affinity) ------------------------------------------------
# Kubernetes semantics in plain values, so the placement plugins stay free of any client type.

BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
"""Taint effects that keep a pod off a node when not tolerated (``PreferNoSchedule`` only scores)."""


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint: pods that do not tolerate it are not placed on the node (for blocking effects)."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}" if self.value else f"{{{self.key}}}"


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod toleration; ``operator`` is ``Equal`` or ``Exists``, an empty ``effect`` matches every effect."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """Kubernetes' rule: an empty key with ``Exists`` tolerates everything."""
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One node-selector expression: ``In``, ``NotIn``, ``Exists``, ``DoesNotExist``, ``Gt``, ``Lt``."""

    key: str
    operator: str = "In"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == "In":
            return value is not None and value in self.values
        if self.operator == "NotIn":
            return value is None or value not in self.values
        if self.operator == "Exists":
            return value is not None
        if self.operator == "DoesNotExist":
            return value is None
        if self.operator in ("Gt", "Lt") and value is not None and self.values:
            try:
                left, right = int(value), int(self.values[0])
            except ValueError:
                return False
            return left > right if self.operator == "Gt" else left < right
        return False


NodeSelectorTerm = tuple[LabelRequirement, ...]
"""Requirements that must all hold (AND); a pod's terms are ORed, as in ``nodeSelectorTerms``."""
