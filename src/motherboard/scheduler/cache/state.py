"""Node and device state as numpy arrays: one row per node, one column per device slot.

The hot path of placement asks the same questions of every node ("enough CPU? how many whole GPUs free?"),
so the state is laid out for whole-array answers: ``cpu_free[n]``, ``dev_milli_free[n, d]`` and so on, with
absent device slots padded so that they never fit anything (zero free compute, ``dev_model == -1``).
Strings (models, sites, racks, domains, partition profiles) are interned in a :class:`Catalog` once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import NDArray

from motherboard.api.constants import LABEL_NVLINK_DOMAIN, LABEL_RACK, LABEL_SITE, LABEL_SITE_KIND
from motherboard.scheduler.cache.types import WHOLE_MILLI, NodeSpec
from motherboard.scheduler.devicemodel import MigInstance, validate_layout

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
Bool = NDArray[np.bool_]


@dataclass
class Catalog:
    """Append-only string interning shared by a cache and its snapshots."""

    models: list[str] = field(default_factory=list)
    vendors: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    site_kinds: list[str] = field(default_factory=list)
    racks: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    partition_keys: list[str] = field(default_factory=list)
    """``<resource>`` of each partition kind, e.g. ``nvidia.com/mig-1g.10gb``."""

    _index: dict[int, dict[str, int]] = field(default_factory=dict, repr=False)

    def intern(self, table: list[str], value: str | None) -> int:
        """Index of ``value`` in ``table`` (appended if new); -1 for ``None``."""
        if value is None:
            return -1
        index = self._index.get(id(table))
        if index is None:
            index = self._index[id(table)] = {v: i for i, v in enumerate(table)}
        found = index.get(value)
        if found is None:
            found = index[value] = len(table)
            table.append(value)
        return found

    @staticmethod
    def find(table: list[str], value: str) -> int:
        """Index of ``value`` or -1, without interning it."""
        try:
            return table.index(value)
        except ValueError:
            return -1


@dataclass
class PartitionTable:
    """Every hardware partition (MIG instance, vNPU) in the cluster, one row each."""

    node: I32
    device: I32
    key: I32
    """Index into :attr:`Catalog.partition_keys`."""
    milli: I64
    memory_mib: I64
    ids: tuple[str, ...]
    free: Bool


@dataclass
class ClusterState:
    """The arrays. Mutated only by :func:`apply` (through the cache or a transaction's private copy)."""

    names: tuple[str, ...]
    cpu_cap: I64
    cpu_free: I64
    mem_cap: I64
    mem_free: I64
    pods_free: I64
    """Pods the node may still take (allocatable ``pods`` minus the pods on it); huge without a limit."""
    schedulable: Bool
    site: I32
    site_kind: I32
    rack: I32
    nvlink: I32
    """Node-level NVLink/HCCS domain label (multi-node NVL domains); -1 where unlabelled."""
    dev_count: I64
    dev_model: I32
    dev_vendor: I32
    dev_resource: I32
    dev_milli_free: I64
    dev_mem_cap: I64
    dev_mem_free: I64
    dev_shareable: Bool
    dev_mig: Bool
    dev_domain: I32
    dev_ids: tuple[tuple[str, ...], ...]
    part_free_count: I64
    """Free partitions per node and partition key, shape ``(nodes, len(catalog.partition_keys))``."""
    partitions: PartitionTable
    version: I64
    """Bumped on every change to a node, so per-class caches know what to recompute."""

    @property
    def size(self) -> int:
        return len(self.names)

    def copy(self) -> ClusterState:
        """A copy whose load arrays are private; the static arrays (capacities, models, labels) are shared.

        Only :func:`~motherboard.scheduler.cache.devices.apply` writes, and only to :data:`MUTABLE` arrays, so
        sharing the rest is safe and keeps a per-cycle snapshot cheap.
        """
        new = object.__new__(ClusterState)
        new.__dict__ = dict(self.__dict__)  # dataclasses.replace re-runs __init__: too slow once per cycle
        for name in MUTABLE:
            setattr(new, name, getattr(self, name).copy())
        parts = object.__new__(PartitionTable)
        parts.__dict__ = dict(self.partitions.__dict__)
        parts.free = self.partitions.free.copy()
        new.partitions = parts
        return new

    def view(self) -> ClusterState:
        """A read-only view: the same load arrays, seen through non-writeable views (no copy).

        The owner of the viewed state must not write to it while the view is alive: the cache copies its
        load arrays first when any view of them is still referenced (:meth:`shared`, :meth:`detach`).
        """
        new = object.__new__(ClusterState)
        new.__dict__ = dict(self.__dict__)
        for name in MUTABLE:
            view = getattr(self, name).view()
            view.flags.writeable = False
            setattr(new, name, view)
        parts = object.__new__(PartitionTable)
        parts.__dict__ = dict(self.partitions.__dict__)
        parts.free = self.partitions.free.view()
        parts.free.flags.writeable = False
        new.partitions = parts
        return new

    def shared(self, view: ClusterState | None = None) -> bool:
        """Whether anything besides this state (and ``view``, a :meth:`view` of it) references its arrays.

        Every numpy view keeps a reference to the array that owns the memory, so a reference count above
        the attribute's own (plus the call's argument, plus ``view``'s) means a reader could still see a
        write: a view's array held elsewhere, a slice of one, a caller holding an array. Whether ``view``
        itself is held (by a snapshot) is the caller's to check.
        """
        refs = UNSHARED_REFS
        d = self.__dict__
        if view is None:
            return sys.getrefcount(self.partitions.free) > refs or any(
                sys.getrefcount(d[name]) > refs for name in MUTABLE
            )
        v = view.__dict__
        return (
            sys.getrefcount(self.partitions.free) > refs + 1
            or sys.getrefcount(view.partitions.free) > refs
            or any(sys.getrefcount(d[name]) > refs + 1 or sys.getrefcount(v[name]) > refs for name in MUTABLE)
        )

    def detach(self) -> None:
        """Give this state private copies of its load arrays (copy on write, when :meth:`shared`).

        The state object stays the same, so holders of it (the cache's live state) keep seeing writes; only
        the views (snapshots) keep the old arrays, which nobody writes to any more.
        """
        d = self.__dict__
        for name in MUTABLE:
            d[name] = d[name].copy()
        parts = object.__new__(PartitionTable)
        parts.__dict__ = dict(self.partitions.__dict__)
        parts.free = self.partitions.free.copy()
        self.partitions = parts

    def freeze(self) -> ClusterState:
        """Mark the load arrays read-only: a snapshot that is written to fails loudly."""
        for name in MUTABLE:
            getattr(self, name).flags.writeable = False
        self.partitions.free.flags.writeable = False
        return self


UNLIMITED_PODS = 2**40
"""``pods_free`` of a node without a pod limit."""

MUTABLE = (
    "cpu_free",
    "mem_free",
    "pods_free",
    "dev_milli_free",
    "dev_mem_free",
    "part_free_count",
    "version",
)
"""The arrays allocation changes; everything else is fixed when the state is built."""


def _unshared_refs() -> int:
    # The reference count :meth:`ClusterState.shared` sees for an array held only by a state's attribute
    # (interpreter-specific, so measured rather than assumed).
    holder = {"a": np.zeros(1)}
    return sys.getrefcount(holder["a"])


UNSHARED_REFS = _unshared_refs()


def _freeze_static(state: ClusterState) -> ClusterState:
    for f in fields(state):
        value = getattr(state, f.name)
        if isinstance(value, np.ndarray) and f.name not in MUTABLE:
            value.flags.writeable = False
    for arr in (state.partitions.node, state.partitions.device, state.partitions.key):
        arr.flags.writeable = False
    return state


def build_state(nodes: list[NodeSpec], catalog: Catalog) -> ClusterState:
    """Lay out ``nodes`` as arrays; MIG layouts in the inventories are validated here."""
    n = len(nodes)
    width = max([len(node.inventory.devices) for node in nodes] + [1])

    def i64() -> I64:
        return np.zeros((n, width), dtype=np.int64)

    def i32() -> I32:
        return np.full((n, width), -1, dtype=np.int32)

    dev_model, dev_vendor, dev_domain, dev_resource = i32(), i32(), i32(), i32()
    dev_milli, dev_mem_cap = i64(), i64()
    dev_shareable = np.zeros((n, width), dtype=np.bool_)
    dev_mig = np.zeros((n, width), dtype=np.bool_)
    part_rows: list[tuple[int, int, int, int, int, str]] = []
    ids: list[tuple[str, ...]] = []
    for i, node in enumerate(nodes):
        ids.append(tuple(d.id for d in node.inventory.devices))
        for j, dev in enumerate(node.inventory.devices):
            dev_model[i, j] = catalog.intern(catalog.models, dev.model)
            dev_vendor[i, j] = catalog.intern(catalog.vendors, dev.vendor.value)
            dev_resource[i, j] = catalog.intern(catalog.resources, dev.resource)
            dev_domain[i, j] = catalog.intern(catalog.domains, dev.interconnect_domain or f"{node.name}/{j}")
            dev_mem_cap[i, j] = dev.memory_mib
            if not dev.healthy:
                continue
            if dev.mig_enabled or dev.partitions:
                dev_mig[i, j] = True
                if dev.mig_enabled and dev.vendor.value == "nvidia":  # AMD modes: N equal partitions
                    validate_layout(dev.model, [MigInstance(p.profile, p.start) for p in dev.partitions])
                for part in dev.partitions:
                    if part.health.value == "Healthy":
                        key = catalog.intern(
                            catalog.partition_keys, partition_key_name(dev.resource, part.profile)
                        )
                        part_rows.append((i, j, key, part.milli, part.memory_mib, part.id))
                continue
            dev_milli[i, j] = WHOLE_MILLI
            dev_shareable[i, j] = dev.share_replicas > 0 or node.share_all

    def label(key: str, table: list[str]) -> I32:
        return np.array([catalog.intern(table, node.labels.get(key)) for node in nodes], dtype=np.int32)

    parts = PartitionTable(
        node=np.array([r[0] for r in part_rows], dtype=np.int32),
        device=np.array([r[1] for r in part_rows], dtype=np.int32),
        key=np.array([r[2] for r in part_rows], dtype=np.int32),
        milli=np.array([r[3] for r in part_rows], dtype=np.int64),
        memory_mib=np.array([r[4] for r in part_rows], dtype=np.int64),
        ids=tuple(r[5] for r in part_rows),
        free=np.ones(len(part_rows), dtype=np.bool_),
    )
    part_count = np.zeros((n, max(len(catalog.partition_keys), 1)), dtype=np.int64)
    np.add.at(part_count, (parts.node, parts.key), 1)
    cpu = np.array([node.cpu_milli for node in nodes], dtype=np.int64)
    mem = np.array([node.memory_mib for node in nodes], dtype=np.int64)
    return _freeze_static(
        ClusterState(
            names=tuple(node.name for node in nodes),
            cpu_cap=cpu,
            cpu_free=cpu.copy(),
            mem_cap=mem,
            mem_free=mem.copy(),
            pods_free=np.array([node.max_pods or UNLIMITED_PODS for node in nodes], dtype=np.int64),
            schedulable=np.array([node.schedulable for node in nodes], dtype=np.bool_),
            site=label(LABEL_SITE, catalog.sites),
            site_kind=label(LABEL_SITE_KIND, catalog.site_kinds),
            rack=label(LABEL_RACK, catalog.racks),
            nvlink=label(LABEL_NVLINK_DOMAIN, catalog.domains),
            dev_count=np.array([len(node.inventory.devices) for node in nodes], dtype=np.int64),
            dev_model=dev_model,
            dev_vendor=dev_vendor,
            dev_resource=dev_resource,
            dev_milli_free=dev_milli,
            dev_mem_cap=dev_mem_cap,
            dev_mem_free=dev_mem_cap.copy(),
            dev_shareable=dev_shareable,
            dev_mig=dev_mig,
            dev_domain=dev_domain,
            dev_ids=tuple(ids),
            part_free_count=part_count,
            partitions=parts,
            version=np.zeros(n, dtype=np.int64),
        )
    )


def partition_key_name(resource: str, profile: str) -> str:
    # MIG slices are advertised as nvidia.com/mig-<profile>; vNPUs under their NPU resource plus profile.
    if resource.startswith("nvidia.com/"):
        return f"nvidia.com/mig-{profile}"
    return f"{resource}/{profile}"
