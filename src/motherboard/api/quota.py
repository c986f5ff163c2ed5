"""What a Queue hierarchy's quotas mean: one model for the webhook, the scheduler, the operator and the CLI.

Pure integer arithmetic over a forest of queues. The admission webhook refuses what :func:`overcommitted`
finds, the scheduler admits with :class:`Hierarchy`'s :meth:`~Hierarchy.available`, the operator reports
:meth:`~Hierarchy.lent` in ``status.usage``: the rule and the arithmetic cannot drift apart. The semantics,
with a worked example, are in ``docs/quota.md``; in short, per quota resource ``r``:

* **nominal** ``N(q)``: what the queue's subtree may use without borrowing. A parent's nominal *covers*
  its children (the webhook refuses children whose nominals add up to more): it is counted once, never on
  top of theirs. What a parent has beyond its children's nominals is a pool any of them may borrow from. A
  parent that sets no quota for ``r`` is a plain pool of ``r``: its nominal is the sum of its children's.
* **guaranteed** ``G(q) = N(q) − lendingLimit`` (0 without a lending limit): reserved for the queue; nobody
  else may use it even while it is idle. The rest of an idle nominal is lent to siblings.
* **borrowingLimit** ``B(q)``: the subtree never uses more than ``N(q) + B(q)``; unset is unlimited (what
  the parent has); a root borrows nothing.
* **usage** ``U(q)``: what the admitted workloads of the queue's subtree hold.
* **committed** ``K(q)``: a leaf's usage; for a parent ``Σ max(K(c), G(c))`` over its children, i.e. their
  usage with every unused guarantee still held back. Admission keeps ``K(q) ≤ N(q) + B(q)`` on every queue
  from the workload's leaf to its root; with the webhook's rule this means a lender that wants its nominal
  back gets it once the borrowers above their nominal are evicted (reclaim).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from motherboard.api.base import parse_quantity
from motherboard.api.resources import quota_family
from motherboard.api.v1alpha1.queue import Queue

MILLI = 1000
"""Amounts of quantities the webhook and the operator compare are counted in thousandths (exact integers)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """A queue's quota of one resource, in integer units (milli-GPU, millicores, bytes…)."""

    nominal: int = 0
    """What the queue's subtree may use without borrowing; what it may reclaim from borrowers."""
    borrowing_limit: int | None = None
    """How far above ``nominal`` the subtree may go using others' unused quota; ``None``: no limit."""
    lending_limit: int | None = None
    """How much of its unused ``nominal`` others may use; ``None``: all of it."""

    def __post_init__(self) -> None:
        if self.nominal < 0 or (self.borrowing_limit or 0) < 0 or (self.lending_limit or 0) < 0:
            raise ValueError(f"quota amounts must not be negative: {self}")

    @property
    def guaranteed(self) -> int:
        """The part of ``nominal`` nobody else may use: ``nominal − lendingLimit`` (0 when it lends all)."""
        return 0 if self.lending_limit is None else max(0, self.nominal - self.lending_limit)


class HierarchyError(ValueError):
    """The queues do not form a forest (a duplicate name, an unknown parent, a cycle)."""


@dataclass(frozen=True, slots=True)
class QueueQuota:
    """One queue as the model sees it: its name, its parent and its limits per quota resource."""

    name: str
    parent: str | None
    limits: Mapping[str, Limits]


@dataclass(frozen=True, slots=True)
class Overcommit:
    """A parent whose children are promised more nominal quota than it has (what the webhook refuses)."""

    parent: str
    resource: str
    promised: int
    """The children's nominals summed."""
    nominal: int


def forest(queues: Iterable[QueueQuota]) -> tuple[list[QueueQuota], dict[str, str]]:
    """The queues that form a forest, and why each other one is left out.

    A queue whose parent does not exist, or that is its own ancestor, is left out *with its whole subtree*:
    the other trees (and the rest of its own tree) keep working. Of two queues with one name, the first
    is kept.
    """
    by_name: dict[str, QueueQuota] = {}
    dropped: dict[str, str] = {}
    for queue in queues:
        if queue.name in by_name:
            dropped.setdefault(queue.name, f"queue {queue.name} is defined twice")
            continue
        by_name[queue.name] = queue
    verdict = {name: _why_out(name, by_name) for name in by_name}
    kept = [q for name, q in by_name.items() if verdict[name] is None]
    dropped.update({name: reason for name, reason in verdict.items() if reason is not None})
    return kept, dropped


def _why_out(name: str, by_name: Mapping[str, QueueQuota]) -> str | None:
    path: list[str] = []
    walk: str | None = name
    while walk is not None:
        if walk in path:
            loop = path[path.index(walk) :]
            cycle = " -> ".join([*loop, walk])
            return (
                f"its parents form a cycle ({cycle})"
                if name in loop
                else f"it is below a parent cycle ({cycle})"
            )
        path.append(walk)
        parent = by_name[walk].parent
        if parent is not None and parent not in by_name:
            if walk == name:
                return f"its parent queue {parent} does not exist"
            return f"its ancestor {walk}'s parent queue {parent} does not exist"
        walk = parent
    return None


def overcommitted(queues: Iterable[QueueQuota]) -> list[Overcommit]:
    """Parents with a quota for a resource that is less than what their children are promised of it.

    The webhook refuses a Queue write that makes one; the scheduler only logs it (an older object the
    webhook never saw), and admission then cannot honour every child's nominal at once.
    """
    kept, _ = forest(queues)
    model = Hierarchy(kept)
    found: list[Overcommit] = []
    for queue in kept:
        children = model.children(queue.name)
        for resource, limits in sorted(queue.limits.items()):
            promised = sum(model.nominal(c, resource) for c in children)
            if children and promised > limits.nominal:
                found.append(Overcommit(queue.name, resource, promised, limits.nominal))
    return found


@dataclass(slots=True)
class _Node:
    queue: QueueQuota
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)
    nominal: dict[str, int] = field(default_factory=dict)
    borrowing: dict[str, int | None] = field(default_factory=dict)
    """``None``: unlimited (what the parent has)."""
    guaranteed: dict[str, int] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    committed: dict[str, int] = field(default_factory=dict)
    idle_committed: dict[str, int] = field(default_factory=dict)
    """``committed`` in an idle tree (only guarantees held back): what :meth:`Hierarchy.capacity` reads."""


class Hierarchy:
    """Quota and usage of a forest of queues: who may use how much more, who borrows, who lends.

    Usage is charged to leaves (:meth:`charge`) and counted up the tree. Resources in ``resources`` (default:
    every resource some queue has a limit for) are managed; others are not counted.
    """

    def __init__(self, queues: Iterable[QueueQuota], resources: Iterable[str] | None = None) -> None:
        self._nodes: dict[str, _Node] = {}
        for queue in queues:
            if queue.name in self._nodes:
                raise HierarchyError(f"queue {queue.name} is defined twice")
            self._nodes[queue.name] = _Node(queue)
        for node in self._nodes.values():
            if node.queue.parent is None:
                continue
            parent = self._nodes.get(node.queue.parent)
            if parent is None:
                raise HierarchyError(
                    f"queue {node.queue.name}: parent queue {node.queue.parent} does not exist"
                )
            node.parent = parent
            parent.children.append(node)
        for node in self._nodes.values():
            seen: set[str] = set()
            walk: _Node | None = node
            while walk is not None:
                if walk.queue.name in seen:
                    raise HierarchyError(f"queue {node.queue.name} is its own ancestor")
                seen.add(walk.queue.name)
                walk = walk.parent
        names = (r for n in self._nodes.values() for r in n.queue.limits) if resources is None else resources
        self.resources: frozenset[str] = frozenset(names)
        for node in self._nodes.values():
            if node.parent is None:
                self._limits(node)

    def _limits(self, node: _Node) -> None:
        for child in node.children:
            self._limits(child)
        for r in self.resources:
            limits = node.queue.limits.get(r)
            if limits is not None:
                node.nominal[r] = limits.nominal
                node.guaranteed[r] = limits.guaranteed
                node.borrowing[r] = limits.borrowing_limit
            else:  # no quota of r: a plain pool of what its children have (a leaf: nothing of its own)
                node.nominal[r] = sum(c.nominal[r] for c in node.children)
                node.guaranteed[r] = 0
                node.borrowing[r] = None
            if node.parent is None:
                node.borrowing[r] = 0  # a root has nobody to borrow from
            idle = sum(max(c.idle_committed[r], c.guaranteed[r]) for c in node.children)
            node.idle_committed[r] = idle
            node.committed[r] = idle

    # --- structure ---------------------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def names(self) -> list[str]:
        return list(self._nodes)

    def parent(self, name: str) -> str | None:
        parent = self._nodes[name].parent
        return None if parent is None else parent.queue.name

    def children(self, name: str) -> list[str]:
        return [c.queue.name for c in self._nodes[name].children]

    # --- limits ------------------------------------------------------------------------------------------
    def nominal(self, name: str, resource: str) -> int:
        """The queue's nominal of ``resource`` (a parent without a quota of it: its children's, summed)."""
        return self._nodes[name].nominal.get(resource, 0)

    def guaranteed(self, name: str, resource: str) -> int:
        return self._nodes[name].guaranteed.get(resource, 0)

    def borrowing_limit(self, name: str, resource: str) -> int | None:
        """How far above nominal the subtree may go (``None``: unlimited; a root: 0)."""
        return self._nodes[name].borrowing.get(resource, 0)

    def limit(self, name: str, resource: str) -> int | None:
        """``nominal + borrowingLimit``: the most the subtree may ever use (``None``: no own limit)."""
        borrowing = self.borrowing_limit(name, resource)
        return None if borrowing is None else self.nominal(name, resource) + borrowing

    # --- usage -------------------------------------------------------------------------------------------
    def usage(self, name: str, resource: str) -> int:
        """What the queue's subtree uses."""
        return self._nodes[name].usage.get(resource, 0)

    def committed(self, name: str, resource: str) -> int:
        return self._nodes[name].committed.get(resource, 0)

    def borrowed(self, name: str, resource: str) -> int:
        """The part of the subtree's usage above its nominal."""
        return max(0, self.usage(name, resource) - self.nominal(name, resource))

    def charge(self, name: str, resource: str, amount: int) -> None:
        """Add ``amount`` (negative: release) of ``resource`` to the usage of queue ``name``'s subtree."""
        if resource not in self.resources or not amount:
            return
        node: _Node | None = self._nodes[name]
        delta = amount
        while node is not None:
            node.usage[resource] = node.usage.get(resource, 0) + amount
            before = max(node.committed[resource], node.guaranteed[resource])
            node.committed[resource] += delta
            delta = max(node.committed[resource], node.guaranteed[resource]) - before
            node = node.parent

    def available(self, name: str, resource: str) -> int:
        """How much more of ``resource`` the queue may use now (negative when over-committed)."""
        return _headroom(self._nodes[name], resource, idle=False)

    def capacity(self, name: str, resource: str) -> int:
        """The most of ``resource`` the queue could ever use: what is available to it in an idle tree."""
        return _headroom(self._nodes[name], resource, idle=True)

    def binding(self, name: str, resource: str, *, idle: bool = False) -> str:
        """The queue on ``name``'s path whose limit leaves ``name`` the least room: the one a refusal names.

        ``idle``: the limit that bounds :meth:`capacity` rather than :meth:`available`.
        """
        node: _Node | None = self._nodes[name]
        best, best_room, slack = name, None, 0
        while node is not None and resource in node.nominal:
            own = _own_room(node, resource, idle=idle)
            if own is not None and (best_room is None or own + slack < best_room):
                best, best_room = node.queue.name, own + slack
            committed = node.idle_committed[resource] if idle else node.committed[resource]
            slack += max(0, node.guaranteed[resource] - committed)
            node = node.parent
        return best

    def lent(self, name: str, resource: str) -> int:
        """The part of the queue's unused nominal that its siblings use now.

        Siblings that borrow draw first on what their parent has beyond its children's nominals, then on
        the siblings' lendable idle quota (unused nominal, capped by the lending limit), shared in
        proportion to what each can lend. Each borrowed unit is lent by exactly one queue.
        """
        node = self._nodes[name]
        parent = node.parent
        if parent is None or resource not in self.resources:
            return 0
        siblings = parent.children
        borrowed = sum(max(0, s.usage.get(resource, 0) - s.nominal[resource]) for s in siblings)
        remainder = max(0, parent.nominal[resource] - sum(s.nominal[resource] for s in siblings))
        from_siblings = max(0, borrowed - remainder)
        lendable = {id(s): _lendable(s, resource) for s in siblings}
        total = sum(lendable.values())
        if not from_siblings or not total:
            return 0
        return lendable[id(node)] * min(from_siblings, total) // total


def _lendable(node: _Node, resource: str) -> int:
    idle = max(0, node.nominal[resource] - node.usage.get(resource, 0))
    limits = node.queue.limits.get(resource)
    if limits is not None and limits.lending_limit is not None:
        return min(idle, limits.lending_limit)
    return idle


def _own_room(node: _Node, resource: str, *, idle: bool) -> int | None:
    borrowing = node.borrowing[resource]
    if borrowing is None:
        return None
    committed = node.idle_committed[resource] if idle else node.committed[resource]
    return node.nominal[resource] + borrowing - committed


def _headroom(node: _Node, resource: str, *, idle: bool) -> int:
    # How much ``committed`` of this node may grow. Its growth reaches the parent only beyond the unused
    # part of its guarantee (that part is already held back there), so the parent's room is added to it.
    if resource not in node.nominal:
        return 0
    own = _own_room(node, resource, idle=idle)
    if node.parent is None:
        return 0 if own is None else own
    committed = node.idle_committed[resource] if idle else node.committed[resource]
    slack = max(0, node.guaranteed[resource] - committed)
    through_parent = slack + _headroom(node.parent, resource, idle=idle)
    return through_parent if own is None else min(own, through_parent)


# --- API objects -> the model (quantities in thousandths) -------------------------------------------------
def milli(quantity: str | int | float | Decimal) -> int:
    """A Kubernetes quantity in thousandths, exactly (``"500m"`` → 500, ``"2Gi"`` → 2147483648000)."""
    value = quantity if isinstance(quantity, Decimal) else parse_quantity(quantity)
    return int(value * MILLI)


def from_milli(amount: int) -> Decimal:
    return Decimal(amount) / MILLI


def quota_key(resource: str, pool: str | None = None) -> str:
    """The key a quota is counted under: its device family, per pool when it names one
    (``nvidia.com/gpu@a100-pool``); the scheduler's admission uses the same keys."""
    family = quota_family(resource)
    return family if pool is None else f"{family}@{pool}"


def queue_quota(queue: Queue) -> QueueQuota:
    """A Queue object in the model, amounts in thousandths of the quantities written."""
    limits: dict[str, Limits] = {}
    for quota in queue.spec.quotas:
        key = quota_key(quota.resource, quota.pool)
        borrowing, lending = quota.borrowing_limit, quota.lending_limit
        limits[key] = Limits(
            milli(quota.nominal),
            None if borrowing is None else milli(borrowing),
            None if lending is None else milli(lending),
        )
    return QueueQuota(queue.metadata.name, queue.spec.parent, limits)


def quota_hierarchy(queues: Iterable[Queue]) -> tuple[Hierarchy, dict[str, str]]:
    """The model of these Queue objects (the ones that form a forest), and why any other is left out."""
    kept, dropped = forest(queue_quota(q) for q in queues)
    return Hierarchy(kept), dropped


def format_milli(resource: str, amount: int) -> str:
    """An amount in thousandths as a quantity its owner would write: ``32``, ``1.5``, ``64Gi``."""
    family = resource.partition("@")[0]
    value = from_milli(amount)
    if family in ("memory", "ephemeral-storage"):
        for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if value and value % size == 0:
                return f"{int(value // size)}{suffix}"
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"
