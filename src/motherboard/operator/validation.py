"""Admission checks that need other objects: queues, pools, nodes, namespaces. Pure functions.

The CRD schema and CEL rules check one object in isolation; these checks need the cluster around it, so the
admission webhook runs them (and the quota CLI runs the same ones before it writes a Queue). Each problem is
``field.path: what is wrong and how to fix it``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from motherboard.api.accelerators import model_matches
from motherboard.api.base import LabelSelector, parse_quantity
from motherboard.api.quota import format_milli, overcommitted, queue_quota
from motherboard.api.v1alpha1 import (
    AIJob,
    DevicePoolSpec,
    DeviceRequest,
    Queue,
    SharingMode,
    find_parent_cycle,
)
from motherboard.devices.model import Device, NodeInventory

ADMITTED_PHASES = frozenset({"Admitted", "Running"})
"""AIJob phases in which a job holds its queue's quota."""


@dataclass(frozen=True)
class NodeDevices:
    """What one node could ever offer: its site and its devices, summarised for feasibility checks."""

    name: str
    site: str | None
    site_kind: str | None
    inventory: NodeInventory = field(default_factory=NodeInventory)

    def matching(
        self, request: DeviceRequest, pool: DevicePoolSpec | None, model: str | None
    ) -> list[Device]:
        """The node's devices of the request's vendor and (resolved) model."""
        vendor = request.vendor or (pool.vendor if pool else None)
        return [
            d
            for d in self.inventory.devices
            if (vendor is None or d.vendor == vendor) and (model is None or d.model == model)
        ]

    def could_satisfy(
        self, request: DeviceRequest, pool: DevicePoolSpec | None, model: str | None = None
    ) -> bool:
        """``model``: the request's model resolved from an alias (default: as written, or the pool's)."""
        model = model or request.model or (pool.model if pool else None)
        devices = self.matching(request, pool, model)
        mode = request.sharing.mode
        if mode is SharingMode.MIG:
            slices = [p for d in devices for p in d.partitions if p.profile == request.sharing.mig_profile]
            return len(slices) >= request.count
        if mode is SharingMode.FRACTION:
            need = parse_quantity(request.sharing.memory) / 2**20 if request.sharing.memory else 0
            return any(d.share_replicas > 0 and d.memory_mib >= need for d in devices)
        return sum(not d.mig_enabled for d in devices) >= request.count


@dataclass
class Cluster:
    """The objects the checks look at."""

    queues: Mapping[str, Queue] = field(default_factory=dict)
    pools: Mapping[str, DevicePoolSpec] = field(default_factory=dict)
    nodes: Iterable[NodeDevices] = ()
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def default_queue(namespace: str, cluster: Cluster) -> str | None:
    """The queue that serves ``namespace`` by name (first match), for defaulting ``spec.queue``."""
    for name, queue in sorted(cluster.queues.items()):
        if namespace in queue.spec.namespaces:
            return name
    for name, queue in sorted(cluster.queues.items()):
        selector = queue.spec.namespace_selector
        if selector and selector.matches(dict(cluster.namespace_labels.get(namespace, {}))):
            return name
    return None


def serves(queue: Queue, namespace: str, labels: Mapping[str, str]) -> bool:
    selector: LabelSelector | None = queue.spec.namespace_selector
    return namespace in queue.spec.namespaces or bool(selector and selector.matches(dict(labels)))


def check_aijob(job: AIJob, cluster: Cluster) -> list[str]:
    """Problems with an AIJob that only the rest of the cluster reveals."""
    problems: list[str] = []
    namespace = job.metadata.namespace or ""
    queue_name = job.spec.queue
    if queue_name is not None:
        queue = cluster.queues.get(queue_name)
        if queue is None:
            problems.append(
                f"spec.queue: queue {queue_name!r} does not exist (queues: {_some(cluster.queues)})"
            )
        elif not serves(queue, namespace, cluster.namespace_labels.get(namespace, {})):
            problems.append(
                f"spec.queue: queue {queue_name!r} does not serve namespace {namespace!r}: "
                f"add it to the queue's spec.namespaces or use the namespace's own queue"
            )
        elif any(q.spec.parent == queue_name for q in cluster.queues.values()):
            problems.append(f"spec.queue: {queue_name!r} is a parent queue; submit to one of its children")
    nodes = [n for n in cluster.nodes if _in_placement(job, n)]
    for index, task in enumerate(job.spec.tasks):
        request = task.devices
        if request is None:
            continue
        where = f"spec.tasks[{index}].devices"
        pool = cluster.pools.get(request.pool) if request.pool else None
        if request.pool and pool is None:
            problems.append(f"{where}.pool: DevicePool {request.pool!r} does not exist")
            continue
        if pool is not None:
            problems += _check_against_pool(where, request, pool, request.pool or "")
        model, problem = _resolve_model(where, request, pool, cluster.nodes)
        if problem is not None:
            problems.append(problem)
            continue
        if not any(node.could_satisfy(request, pool, model) for node in nodes):
            problems.append(
                f"{where}: no node{_sites(job)} could ever provide {_describe(request, model)}"
                f"{_why_not(request, pool, model, nodes)}"
            )
    return problems


def _some(names: Iterable[str], shown: int = 20) -> str:
    """Names for a message: sorted, at most ``shown`` of them (a cluster may have hundreds of queues)."""
    ordered = sorted(names)
    if not ordered:
        return "none"
    more = f" and {len(ordered) - shown} more" if len(ordered) > shown else ""
    return ", ".join(ordered[:shown]) + more


def _resolve_model(
    where: str, request: DeviceRequest, pool: DevicePoolSpec | None, nodes: Iterable[NodeDevices]
) -> tuple[str | None, str | None]:
    """The model the request means (an unambiguous alias resolved: ``H100`` → ``H100-80GB``), or why none.

    The scheduler resolves aliases by the same rule (:func:`motherboard.api.accelerators.resolve_model`).
    """
    model = request.model or (pool.model if pool else None)
    if model is None:
        return None, None
    vendor = request.vendor or (pool.vendor if pool else None)
    known = sorted(
        {d.model for n in nodes for d in n.inventory.devices if vendor is None or d.vendor == vendor}
    )
    matches = model_matches(model, known)
    if len(matches) == 1:
        return matches[0], None
    field_name = f"{where}.model" if request.model else f"{where}.pool"
    if matches:
        return None, f"{field_name}: {model!r} could be {' or '.join(matches)}; write the full model name"
    kind = f"{vendor.value} " if vendor else ""
    return None, (
        f"{field_name}: no node has a {kind}device of model {model!r}; "
        f"{kind}models in the cluster: {_some(known)}"
    )


def _why_not(
    request: DeviceRequest, pool: DevicePoolSpec | None, model: str | None, nodes: list[NodeDevices]
) -> str:
    # Name the constraint: the model exists here, but every such GPU is cut into MIG slices.
    if request.sharing.mode is not SharingMode.WHOLE:
        return ""
    devices = [d for n in nodes for d in n.matching(request, pool, model)]
    if devices and all(d.mig_enabled for d in devices):
        profiles = sorted({p.profile for d in devices for p in d.partitions})
        return (
            f": every such GPU is MIG-partitioned; ask for sharing mode MIG with a migProfile of "
            f"{', '.join(profiles) or 'its layout'}, or for another model"
        )
    if devices:
        most = max(sum(not d.mig_enabled for d in n.matching(request, pool, model)) for n in nodes)
        return f": a pod's devices come from one node, and no node has more than {most} whole ones"
    return ""


def _check_against_pool(where: str, request: DeviceRequest, pool: DevicePoolSpec, name: str) -> list[str]:
    mode = request.sharing.mode
    if mode is not pool.sharing.mode:
        return [
            f"{where}.sharing.mode: pool {name!r} hands out {pool.sharing.mode.value} devices, not {mode.value}"
        ]
    if mode is SharingMode.MIG and request.sharing.mig_profile not in pool.sharing.mig_profiles:
        offered = ", ".join(pool.sharing.mig_profiles)
        return [
            f"{where}.sharing.migProfile: pool {name!r} does not offer {request.sharing.mig_profile} "
            f"(it offers {offered})"
        ]
    if request.vendor is not None and request.vendor is not pool.vendor:
        return [f"{where}.vendor: pool {name!r} is {pool.vendor.value}, not {request.vendor.value}"]
    return []


def _in_placement(job: AIJob, node: NodeDevices) -> bool:
    placement = job.spec.placement
    if placement.required_sites and node.site not in placement.required_sites:
        return False
    return placement.site_kind is None or node.site_kind == placement.site_kind.value.lower()


def _sites(job: AIJob) -> str:
    placement = job.spec.placement
    if placement.required_sites:
        return f" in site(s) {', '.join(placement.required_sites)}"
    if placement.site_kind is not None:
        return f" in {placement.site_kind.value.lower()} sites"
    return ""


def _describe(request: DeviceRequest, model: str | None = None) -> str:
    what = (
        " ".join(x for x in (request.vendor.value if request.vendor else None, model or request.model) if x)
        or "device"
    )
    if request.sharing.mode is SharingMode.MIG:
        return f"{request.count} x MIG {request.sharing.mig_profile} ({what})"
    if request.sharing.mode is SharingMode.FRACTION:
        return f"a {request.sharing.fraction} share of a {what}"
    return f"{request.count} x {what}"


def check_queue(queue: Queue, cluster: Cluster) -> list[str]:
    """Problems with a Queue in the hierarchy: missing parent, a cycle, children's quota above the parent's.

    The quota rule is the shared model's (:func:`motherboard.api.quota.overcommitted`): the scheduler admits
    by the same arithmetic, which counts a parent's nominal once, as the cover of its children's.
    """
    problems: list[str] = []
    name = queue.metadata.name
    others = {n: q for n, q in cluster.queues.items() if n != name}
    parent = queue.spec.parent
    if parent is not None and parent not in others:
        problems.append(
            f"spec.parent: queue {parent!r} does not exist (queues: {_some(others)}); create it first"
        )
    cycle = find_parent_cycle({**{n: q.spec.parent for n, q in others.items()}, name: parent})
    if cycle and name in cycle:
        problems.append(f"spec.parent: makes a cycle {' -> '.join(cycle)}")
    ancestors = {name}
    walk = parent
    while walk is not None and walk in others and walk not in ancestors:
        ancestors.add(walk)
        walk = others[walk].spec.parent
    for found in overcommitted(queue_quota(q) for q in [*others.values(), queue]):
        if found.parent not in ancestors:
            continue  # an older problem elsewhere in the tree is not this write's fault
        label = "this queue" if found.parent == name else f"queue {found.parent!r}"
        resource = found.resource.partition("@")[0]
        problems.append(
            f"spec.quotas: children of {label} are promised {format_milli(resource, found.promised)} {resource} "
            f"in total, more than its nominal {format_milli(resource, found.nominal)}: a parent's nominal is "
            f"what its whole subtree may use, so raise the parent's quota or lower a child's"
        )
    return problems


def check_queue_delete(
    name: str, cluster: Cluster, jobs: Iterable[tuple[str, str | None, str | None]]
) -> list[str]:
    """Why Queue ``name`` may not be deleted now: it has child queues, or admitted jobs hold its quota.

    ``jobs`` is ``(namespace/name, queue, phase)`` per AIJob. Deleting a parent would leave its children
    without a parent (their subtree stops admitting); deleting a queue under running jobs would leave
    their quota charged nowhere. Pending jobs do not block: they wait, and say that the queue is gone.
    """
    problems: list[str] = []
    children = sorted(n for n, q in cluster.queues.items() if q.spec.parent == name)
    if children:
        problems.append(
            f"queue {name!r} is the parent of {', '.join(children)}: delete or re-parent its children first"
        )
    holding = sorted(job for job, queue, phase in jobs if queue == name and phase in ADMITTED_PHASES)
    if holding:
        shown = ", ".join(holding[:5]) + (f" and {len(holding) - 5} more" if len(holding) > 5 else "")
        problems.append(
            f"queue {name!r} has {len(holding)} admitted job(s) holding its quota ({shown}): "
            f"wait for them to finish, or delete or suspend them first"
        )
    return problems
