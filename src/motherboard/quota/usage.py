"""The queue tree with nominal, borrowing/lending limits and used/borrowed/lent per resource. Pure.

``used`` comes from the Queue's status when the operator wrote one; otherwise it is computed from the bound
pods the queue charges, the way the scheduler charges them: devices by the ``milli`` of their
``motherboard.io/device-assignment`` (a whole device is 1, a 1g.10gb slice 0.142) under the device's quota
family, plus the containers' cpu and memory requests. A parent queue uses what its subtree uses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from motherboard.api.assignment import AssignmentError, DeviceAssignment
from motherboard.api.base import parse_quantity
from motherboard.api.constants import LABEL_QUEUE
from motherboard.api.quota import from_milli, milli, quota_hierarchy, quota_key
from motherboard.api.resources import quota_family
from motherboard.api.v1alpha1 import Queue

ZERO = Decimal(0)
_FINISHED = {"Succeeded", "Failed"}
_COMPUTE = ("cpu", "memory")

Usage = dict[str, Decimal]
"""Resource (quota family) → amount, in quota units (devices) or Kubernetes units (cpu cores, bytes)."""


def queue_of_pod(pod: Mapping[str, Any], by_namespace: Mapping[str, str]) -> str | None:
    """The queue a pod is charged to: its ``motherboard.io/queue`` label, else the Queue listing its namespace."""
    meta = pod.get("metadata") or {}
    label = (meta.get("labels") or {}).get(LABEL_QUEUE)
    return label or by_namespace.get(meta.get("namespace") or "")


def pod_usage(pod: Mapping[str, Any]) -> Usage:
    """What one bound, unfinished pod holds (empty for pending or finished pods)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in _FINISHED:
        return {}
    used: Usage = defaultdict(Decimal)
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        for resource in _COMPUTE:
            if resource in requests:
                used[resource] += parse_quantity(str(requests[resource]))
    try:
        assignment = DeviceAssignment.from_pod_annotations((pod.get("metadata") or {}).get("annotations"))
    except AssignmentError:
        assignment = None  # a malformed annotation charges nothing here; the device plugin reports it
    for entry in assignment.containers if assignment else ():
        for device in entry.devices:
            used[quota_family(entry.resource)] += Decimal(device.milli) / 1000
    return dict(used)


def usage_by_queue(pods: Iterable[Mapping[str, Any]], queues: Mapping[str, Queue]) -> dict[str, Usage]:
    """Usage charged directly to each queue (not yet rolled up to parents)."""
    by_namespace = {ns: name for name, q in sorted(queues.items()) for ns in q.spec.namespaces}
    totals: dict[str, Usage] = defaultdict(lambda: defaultdict(Decimal))
    for pod in pods:
        queue = queue_of_pod(pod, by_namespace)
        if queue is None or queue not in queues:
            continue
        for resource, amount in pod_usage(pod).items():
            totals[queue][resource] += amount
    return {name: dict(values) for name, values in totals.items()}


@dataclass
class ResourceLine:
    """One quota of one queue, as the tree shows it."""

    resource: str
    pool: str | None
    nominal: Decimal
    borrowing_limit: Decimal | None
    lending_limit: Decimal | None
    used: Decimal = ZERO
    borrowed: Decimal = ZERO
    lent: Decimal = ZERO


@dataclass
class QueueNode:
    """One queue in the tree, depth-first order."""

    name: str
    parent: str | None
    depth: int
    weight: int
    namespaces: list[str]
    resources: list[ResourceLine] = field(default_factory=list)
    pending_jobs: int = 0
    from_status: bool = False
    """Whether ``used``/``borrowed``/``lent`` were read from the Queue's status rather than computed."""


def build_tree(
    queues: Mapping[str, Queue], pods: Iterable[Mapping[str, Any]], pending: Mapping[str, int] | None = None
) -> list[QueueNode]:
    """The queues depth-first (roots sorted by name), each with its resource lines filled in."""
    direct = usage_by_queue(pods, queues)
    children: dict[str | None, list[str]] = defaultdict(list)
    for name, queue in sorted(queues.items()):
        parent = queue.spec.parent if queue.spec.parent in queues else None
        children[parent].append(name)

    def subtree_usage(name: str, seen: frozenset[str] = frozenset()) -> Usage:
        total: Usage = defaultdict(Decimal, direct.get(name, {}))
        for child in children.get(name, []):
            if child not in seen:  # a cycle the webhook would refuse must not hang the CLI
                for resource, amount in subtree_usage(child, seen | {name}).items():
                    total[resource] += amount
        return dict(total)

    nodes: list[QueueNode] = []

    def visit(name: str, depth: int, seen: frozenset[str]) -> None:
        queue = queues[name]
        node = QueueNode(
            name,
            queue.spec.parent,
            depth,
            queue.spec.weight,
            list(queue.spec.namespaces),
            pending_jobs=(pending or {}).get(name, queue.status.pending_jobs if queue.status else 0),
        )
        node.resources = _lines(queue, subtree_usage(name))
        node.from_status = _apply_status(queue, node.resources)
        nodes.append(node)
        for child in children.get(name, []):
            if child not in seen:
                visit(child, depth + 1, seen | {name})

    for root in children.get(None, []):
        visit(root, 0, frozenset())
    _attribute_lending(nodes, queues, direct)
    return nodes


def _lines(queue: Queue, used: Usage) -> list[ResourceLine]:
    lines = []
    for quota in queue.spec.quotas:
        line = ResourceLine(
            quota.resource,
            quota.pool,
            parse_quantity(quota.nominal),
            parse_quantity(quota.borrowing_limit) if quota.borrowing_limit is not None else None,
            parse_quantity(quota.lending_limit) if quota.lending_limit is not None else None,
            # A per-pool quota cannot be told apart from pods alone: show the resource's usage on it.
            used=used.get(quota.resource, ZERO),
        )
        line.borrowed = max(line.used - line.nominal, ZERO)
        lines.append(line)
    return lines


def _apply_status(queue: Queue, lines: list[ResourceLine]) -> bool:
    if queue.status is None or not queue.status.usage:
        return False
    reported = {(u.resource, u.pool): u for u in queue.status.usage}
    for line in lines:
        usage = reported.get((line.resource, line.pool))
        if usage is not None:
            line.used = parse_quantity(usage.used)
            line.borrowed = parse_quantity(usage.borrowed)
            line.lent = parse_quantity(usage.lent)
    return True


def _attribute_lending(
    nodes: list[QueueNode], queues: Mapping[str, Queue], direct: Mapping[str, Usage]
) -> None:
    """``lent`` by the shared quota model (:mod:`motherboard.api.quota`), as the operator's status reports it:
    siblings' loans come first from their parent's spare, then from the siblings with idle nominal in
    proportion to what each can lend; each loan is lent once. Queues with a status keep its ``lent``."""
    model, _ = quota_hierarchy(queues.values())
    for name in model.names():
        for key in model.resources:
            amount = direct.get(name, {}).get(key.partition("@")[0])
            if amount:
                model.charge(name, key, milli(amount))
    for node in nodes:
        if node.from_status or node.name not in model:
            continue
        for line in node.resources:
            line.lent = from_milli(model.lent(node.name, quota_key(line.resource, line.pool)))


def format_amount(resource: str, amount: Decimal | None) -> str:
    """A human amount: memory in Gi, everything else as a plain number with at most three decimals."""
    if amount is None:
        return "-"
    if resource == "memory":
        return f"{_plain(amount / 2**30, 2)}Gi"
    return _plain(amount, 3)


def _plain(amount: Decimal, places: int) -> str:
    text = f"{amount.quantize(Decimal(1).scaleb(-places)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
