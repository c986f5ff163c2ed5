"""DevicePool and Queue status from what the cluster holds: nodes, bound pods, AIJobs. Pure functions.

Pools: the nodes a pool selects (site, node selector, and a device of its vendor and model), their devices
and healthy devices from the inventory the device plugins publish, capacity from node allocatable and
allocation from the limits of bound pods. Queues: pending and admitted jobs, and usage per quota in the one
quota unit (a MIG slice or a share costs the compute share the scheduler recorded in the pod's device
assignment). A parent queue's usage includes its children's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from motherboard.api.assignment import AssignmentError, DeviceAssignment
from motherboard.api.base import Condition, ConditionStatus, parse_quantity
from motherboard.api.constants import LABEL_QUEUE, LABEL_SITE
from motherboard.api.quota import from_milli, milli, quota_hierarchy, quota_key
from motherboard.api.resources import partition_resource, quota_family, shared_resource, whole_device_resource
from motherboard.api.v1alpha1 import DevicePoolSpec, DevicePoolStatus, Queue, QueueStatus, SharingMode
from motherboard.api.v1alpha1.queue import ResourceUsage
from motherboard.devices.model import InventoryError, NodeInventory

PENDING_PHASES = {"Pending", "Queued", "Preempted"}
ADMITTED_PHASES = {"Admitted", "Running"}
CORE = {"cpu", "memory"}


@dataclass(frozen=True)
class NodeView:
    name: str
    labels: Mapping[str, str]
    allocatable: Mapping[str, str]
    inventory: NodeInventory
    problem: str | None = None
    """Why the published inventory could not be read (the node then counts as having no devices)."""
    taints: tuple[tuple[str, str], ...] = ()
    """``(key, effect)`` of the node's NoSchedule and NoExecute taints (which pods may land there)."""

    @classmethod
    def from_node(cls, body: Mapping[str, Any]) -> NodeView:
        meta = body.get("metadata") or {}
        problem = None
        try:
            inventory = NodeInventory.from_node_annotations(meta.get("annotations"))
        except InventoryError as exc:
            inventory, problem = NodeInventory(), str(exc)
        allocatable = (body.get("status") or {}).get("allocatable") or {}
        labels = dict(meta.get("labels") or {})
        taints = tuple(
            sorted(
                (str(t.get("key", "")), str(t.get("effect", "")))
                for t in ((body.get("spec") or {}).get("taints") or [])
                if isinstance(t, dict) and t.get("effect") in ("NoSchedule", "NoExecute")
            )
        )
        return cls(meta.get("name", ""), labels, dict(allocatable), inventory, problem, taints)


@dataclass(frozen=True)
class PodUsage:
    """What one bound, unfinished pod holds."""

    name: str
    node: str
    queue: str | None
    limits: Mapping[str, Decimal] = field(default_factory=dict)
    """Extended resources (sum over containers)."""
    core: Mapping[str, Decimal] = field(default_factory=dict)
    """cpu (cores) and memory (bytes) requests."""
    milli: Mapping[str, int] = field(default_factory=dict)
    """Device compute charged per quota family, from the scheduler's device assignment."""
    device_milli: Mapping[str, int] = field(default_factory=dict)
    """Compute held per physical device id (a MIG slice or a share counts on its device)."""

    @classmethod
    def from_pod(cls, body: Mapping[str, Any]) -> PodUsage | None:
        spec, status, meta = body.get("spec") or {}, body.get("status") or {}, body.get("metadata") or {}
        if not spec.get("nodeName") or status.get("phase") in {"Succeeded", "Failed"}:
            return None
        limits: dict[str, Decimal] = defaultdict(Decimal)
        core: dict[str, Decimal] = defaultdict(Decimal)
        for container in spec.get("containers") or []:
            resources = container.get("resources") or {}
            for name, value in (resources.get("limits") or {}).items():
                if "/" in name:
                    limits[name] += parse_quantity(value)
            for name, value in (resources.get("requests") or {}).items():
                if name in CORE:
                    core[name] += parse_quantity(value)
        milli: dict[str, int] = defaultdict(int)
        device_milli: dict[str, int] = defaultdict(int)
        try:
            assignment = DeviceAssignment.from_pod_annotations(meta.get("annotations"))
        except AssignmentError:
            assignment = None
        for entry in assignment.containers if assignment else ():
            milli[quota_family(entry.resource)] += sum(d.milli for d in entry.devices)
            for device in entry.devices:
                device_milli[device.parent or device.id] += device.milli
        labels = meta.get("labels") or {}
        return cls(
            meta.get("name", ""),
            spec["nodeName"],
            labels.get(LABEL_QUEUE),
            dict(limits),
            dict(core),
            dict(milli),
            dict(device_milli),
        )


# --- pools -------------------------------------------------------------------------------------------------
def pool_resources(spec: DevicePoolSpec) -> list[str]:
    """The extended resources a pool's devices are advertised as."""
    if spec.resource_name:
        return [spec.resource_name]
    whole = whole_device_resource(spec.vendor, spec.model)
    if spec.sharing.mode is SharingMode.MIG:
        return [partition_resource(whole, p) for p in spec.sharing.mig_profiles]
    if spec.sharing.mode is SharingMode.FRACTION:
        return [shared_resource(spec.vendor, whole)]
    return [whole]


def selects(spec: DevicePoolSpec, node: NodeView) -> bool:
    if spec.site and node.labels.get(LABEL_SITE) != spec.site:
        return False
    if not spec.node_selector.matches(dict(node.labels)):
        return False
    return any(_is_pool_device(spec, d.vendor, d.model) for d in node.inventory.devices)


def _is_pool_device(spec: DevicePoolSpec, vendor: str, model: str) -> bool:
    return vendor == spec.vendor and (spec.model is None or model == spec.model)


def pool_status(
    spec: DevicePoolSpec, nodes: Iterable[NodeView], pods: Iterable[PodUsage]
) -> DevicePoolStatus:
    chosen = [n for n in nodes if selects(spec, n)]
    names = {n.name for n in chosen}
    devices = [d for n in chosen for d in n.inventory.devices if _is_pool_device(spec, d.vendor, d.model)]
    resources = pool_resources(spec)
    capacity = {
        r: sum((parse_quantity(n.allocatable.get(r, "0")) for n in chosen), Decimal(0)) for r in resources
    }
    allocated = {r: Decimal(0) for r in resources}
    for pod in pods:
        if pod.node in names:
            for r in resources:
                allocated[r] += pod.limits.get(r, Decimal(0))
    healthy = sum(d.healthy for d in devices)
    ready = Condition(
        type="Ready",
        status=ConditionStatus.TRUE if healthy else ConditionStatus.FALSE,
        reason="DevicesAvailable" if healthy else "NoHealthyDevices",
        message=f"{healthy} of {len(devices)} devices healthy on {len(chosen)} nodes",
    )
    return DevicePoolStatus(
        nodes=len(chosen),
        devices=len(devices),
        healthy=healthy,
        capacity={r: _fmt(v) for r, v in capacity.items()},
        allocated={r: _fmt(v) for r, v in allocated.items()},
        in_use=", ".join(f"{_fmt(allocated[r])}/{_fmt(capacity[r])} {r}" for r in resources) or None,
        free=", ".join(f"{_fmt(max(Decimal(0), capacity[r] - allocated[r]))} {r}" for r in resources) or None,
        conditions=[ready],
    )


@dataclass(frozen=True)
class PoolOccupancy:
    """How a pool's healthy devices are used, device by device: what the capacity gauges cannot show.

    A pool can have free compute that no whole-device request can use: the unused part of devices that MIG
    slices or shares already hold in part. ``fragmentation`` is that part of the free compute (0 when every
    free unit sits on an idle device, 1 when every device is partly held); ``largest_idle`` is the most idle
    devices on one node, the biggest gang member the pool could still take.
    """

    healthy: int = 0
    idle: int = 0
    """Healthy devices nothing holds any part of."""
    free_milli: int = 0
    """Unused compute on healthy devices, in thousandths of a device."""
    stranded_milli: int = 0
    """The part of ``free_milli`` on devices partly held."""
    largest_idle: int = 0

    @property
    def fragmentation(self) -> float:
        return self.stranded_milli / self.free_milli if self.free_milli else 0.0


def pool_occupancy(
    spec: DevicePoolSpec, nodes: Iterable[NodeView], pods: Iterable[PodUsage]
) -> PoolOccupancy:
    """Per device: held compute from the scheduler's device assignments on the pool's nodes' bound pods."""
    chosen = {n.name: n for n in nodes if selects(spec, n)}
    held: dict[tuple[str, str], int] = defaultdict(int)
    for pod in pods:
        if pod.node in chosen:
            for device_id, amount in pod.device_milli.items():
                held[(pod.node, device_id)] += amount
    healthy = idle = free = stranded = largest = 0
    for name, node in chosen.items():
        idle_here = 0
        for device in node.inventory.devices:
            if not device.healthy or not _is_pool_device(spec, device.vendor, device.model):
                continue
            used = min(1000, held.get((name, device.id), 0))
            healthy += 1
            free += 1000 - used
            if used:
                stranded += 1000 - used
            else:
                idle_here += 1
        idle += idle_here
        largest = max(largest, idle_here)
    return PoolOccupancy(healthy, idle, free, stranded, largest)


# --- queues ------------------------------------------------------------------------------------------------
def _used(resource: str, pods: Iterable[PodUsage]) -> Decimal:
    if resource in CORE:
        return sum((p.core.get(resource, Decimal(0)) for p in pods), Decimal(0))
    return sum((Decimal(p.milli.get(resource, 0)) / 1000 for p in pods), Decimal(0))


def queue_statuses(
    queues: Mapping[str, Queue], job_phases: Iterable[tuple[str | None, str]], pods: Iterable[PodUsage]
) -> dict[str, QueueStatus]:
    """Status of every queue; ``job_phases`` is ``(queue, phase)`` per AIJob."""
    children: dict[str, list[str]] = defaultdict(list)
    for name, queue in queues.items():
        if queue.spec.parent:
            children[queue.spec.parent].append(name)
    own_pods: dict[str, list[PodUsage]] = defaultdict(list)
    for pod in pods:
        if pod.queue:
            own_pods[pod.queue].append(pod)

    def subtree(name: str, seen: frozenset[str] = frozenset()) -> list[PodUsage]:
        if name in seen:  # a cycle the webhook would have refused: count each queue once
            return []
        return own_pods[name] + [p for c in children[name] for p in subtree(c, seen | {name})]

    pending: dict[str, int] = defaultdict(int)
    admitted: dict[str, int] = defaultdict(int)
    for queue_name, phase in job_phases:
        if queue_name is not None:
            pending[queue_name] += phase in PENDING_PHASES
            admitted[queue_name] += phase in ADMITTED_PHASES
    # Used, borrowed and lent come from the shared quota model (the scheduler admits by the same one), so
    # one loan is lent by exactly one queue and a parent's usage is its subtree's.
    model, left_out = quota_hierarchy(queues.values())
    for name in model.names():
        for key in model.resources:
            amount = _used(key.partition("@")[0], own_pods[name])
            if amount:
                model.charge(name, key, milli(amount))
    result: dict[str, QueueStatus] = {}
    for name, queue in queues.items():
        usage = []
        for quota in queue.spec.quotas:
            key = quota_key(quota.resource, quota.pool)
            if name in model:
                used = from_milli(model.usage(name, key))
                lent = from_milli(model.lent(name, key))
            else:  # left out of the model (its parent is missing): what its own subtree holds, lending nothing
                used, lent = _used(quota_family(quota.resource), subtree(name)), Decimal(0)
            usage.append(
                ResourceUsage(
                    resource=quota.resource,
                    pool=quota.pool,
                    nominal=quota.nominal,
                    used=_fmt(used),
                    borrowed=_fmt(max(Decimal(0), used - parse_quantity(quota.nominal))),
                    lent=_fmt(lent),
                )
            )
        why = left_out.get(name)
        active = Condition(
            type="Active",
            status=ConditionStatus.FALSE if why else ConditionStatus.TRUE,
            reason="NotInTree" if why else "Admitting",
            message=f"admits nothing: {why}" if why else "the queue and its parents exist",
        )
        result[name] = QueueStatus(
            usage=usage,
            summary=_summary(usage),
            pending_jobs=pending[name],
            admitted_jobs=admitted[name],
            conditions=[active],
        )
    return result


def _summary(usage: list[ResourceUsage]) -> str | None:
    # One line for `kubectl get queues`: used/nominal per quota, with what is borrowed.
    parts = []
    for line in usage:
        where = f"@{line.pool}" if line.pool else ""
        borrowed = f" ({line.borrowed} borrowed)" if line.borrowed != "0" else ""
        parts.append(f"{line.resource}{where} {line.used}/{line.nominal}{borrowed}")
    return ", ".join(parts) or None


def _fmt(value: Decimal) -> str:
    """A quantity string: whole numbers plain, fractions in milli (``1.5`` → ``1500m``)."""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{int(value * 1000)}m"
