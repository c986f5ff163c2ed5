"""The queue tree: nominal quota, borrowing and lending limits, and who uses how much.

The semantics are Kueue's hierarchical cohorts, with every node a queue. Per quota resource ``r``:

* ``subtree[r]`` — what a node brings to its parent: its nominal plus what its children lend it,
  ``nominal + Σ (child.subtree - child.guaranteed)``.
* ``guaranteed[r]`` — what a node keeps for itself: ``max(0, subtree - lendingLimit)``, or 0 without a
  lending limit (everything is lendable).
* ``usage[r]`` — for a leaf, its admitted workloads; for a parent, what its children use *beyond* their
  guaranteed part (that is the part drawn from the parent's pool).
* ``available(q, r)`` — its unused guaranteed part plus what its parent has available, capped by its
  borrowing limit: ``usage + available ≤ nominal + borrowingLimit`` always holds.

A parent's own borrowing limit caps all its children, because a child's availability recurses through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from motherboard.scheduler.admission.resources import Resources
from motherboard.scheduler.admission.spec import QueueSpec, Workload


class QueueConfigError(ValueError):
    """The queue specs do not form a tree (unknown parent, a cycle, a duplicate name)."""


@dataclass(slots=True)
class _Node:
    spec: QueueSpec
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)
    subtree: dict[str, int] = field(default_factory=dict)
    guaranteed: dict[str, int] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A workload holding quota, and when it got it (the newest are the cheapest to preempt)."""

    workload: Workload
    since: float


class QuotaTree:
    """Quota and usage of every queue; the state admission decides against.

    Mutated only through :meth:`assume` (a workload was admitted) and :meth:`forget` (it finished, was
    evicted, or its placement failed). Preemption simulation uses the same pair and restores what it
    changed, so a failed plan leaves no trace.
    """

    def __init__(self, specs: Iterable[QueueSpec]) -> None:
        self._nodes: dict[str, _Node] = {}
        for spec in specs:
            if spec.name in self._nodes:
                raise QueueConfigError(f"duplicate queue {spec.name!r}")
            self._nodes[spec.name] = _Node(spec)
        for node in self._nodes.values():
            if node.spec.parent is None:
                continue
            parent = self._nodes.get(node.spec.parent)
            if parent is None:
                name, missing = node.spec.name, node.spec.parent
                raise QueueConfigError(f"queue {name!r}: parent {missing!r} does not exist")
            node.parent = parent
            parent.children.append(node)
        self._check_acyclic()
        self.managed: frozenset[str] = frozenset(r for n in self._nodes.values() for r in n.spec.quotas)
        """Resources some queue has quota for; admission ignores the rest of a request."""
        for node in self._nodes.values():
            if node.parent is None:
                self._compute_quota(node)
        self._admitted: dict[str, Admitted] = {}
        self._by_queue: dict[str, dict[str, Admitted]] = {name: {} for name in self._nodes}

    def _check_acyclic(self) -> None:
        for node in self._nodes.values():
            seen: set[str] = set()
            walk: _Node | None = node
            while walk is not None:
                if walk.spec.name in seen:
                    raise QueueConfigError(f"queue {node.spec.name!r} is its own ancestor")
                seen.add(walk.spec.name)
                walk = walk.parent

    def _compute_quota(self, node: _Node) -> None:
        subtree = {r: q.nominal for r, q in node.spec.quotas.items()}
        for child in node.children:
            self._compute_quota(child)
            for r, amount in child.subtree.items():
                subtree[r] = subtree.get(r, 0) + amount - child.guaranteed.get(r, 0)
        node.subtree = subtree
        node.guaranteed = {}
        for r, amount in subtree.items():
            lending = node.spec.quota(r).lending_limit
            if lending is not None:
                node.guaranteed[r] = max(0, amount - lending)

    # --- structure ------------------------------------------------------------------------------------
    def __contains__(self, queue: object) -> bool:
        return queue in self._nodes

    def spec(self, queue: str) -> QueueSpec:
        """The spec the tree was built from for ``queue``."""
        return self._nodes[queue].spec

    def roots(self) -> list[str]:
        """Queues without a parent: each is the top of an independent tree."""
        return [name for name, n in self._nodes.items() if n.parent is None]

    def is_leaf(self, queue: str) -> bool:
        """Whether the queue has no children (only leaves hold workloads, as in Kueue)."""
        return not self._nodes[queue].children

    def parent(self, queue: str) -> str | None:
        """The queue's parent, ``None`` for a root."""
        parent = self._nodes[queue].parent
        return None if parent is None else parent.spec.name

    def path(self, queue: str) -> list[str]:
        """Queue names from the root down to ``queue``."""
        names: list[str] = []
        walk: _Node | None = self._nodes[queue]
        while walk is not None:
            names.append(walk.spec.name)
            walk = walk.parent
        return names[::-1]

    def root_of(self, queue: str) -> str:
        return self.path(queue)[0]

    def queues(self) -> list[str]:
        """All queue names, in the order the specs were given."""
        return list(self._nodes)

    # --- quota queries --------------------------------------------------------------------------------
    def usage(self, queue: str) -> Resources:
        """What the queue uses (a parent: what its children draw from its pool)."""
        return Resources(self._nodes[queue].usage)

    def subtree_quota(self, queue: str, resource: str) -> int:
        return self._nodes[queue].subtree.get(resource, 0)

    def guaranteed(self, queue: str, resource: str) -> int:
        return self._nodes[queue].guaranteed.get(resource, 0)

    def available(self, queue: str, resource: str) -> int:
        """How much more of ``resource`` the queue may use now (negative when over-committed)."""
        return _available(self._nodes[queue], resource)

    def capacity(self, queue: str, resource: str) -> int:
        """The most of ``resource`` the queue could ever hold: its availability in an idle tree."""
        return _capacity(self._nodes[queue], resource)

    def fits(self, queue: str, request: Resources, *, allow_borrowing: bool = True) -> bool:
        """Whether ``request`` fits the queue now; without borrowing it must also fit its own nominal."""
        node = self._nodes[queue]
        for r, amount in request.items():
            if r not in self.managed:
                continue
            if amount > _available(node, r):
                return False
            if not allow_borrowing and node.usage.get(r, 0) + amount > node.subtree.get(r, 0):
                return False
        return True

    def is_borrowing(self, queue: str, resources: Iterable[str] | None = None) -> bool:
        """Whether the queue uses more than its own quota of any of ``resources`` (default: any)."""
        node = self._nodes[queue]
        names = node.usage if resources is None else resources
        return any(node.usage.get(r, 0) > node.subtree.get(r, 0) for r in names)

    # --- admitted workloads ---------------------------------------------------------------------------
    def assume(self, workload: Workload, now: float = 0.0) -> None:
        """Count ``workload``'s request against its queue (and, beyond guarantees, its ancestors)."""
        if workload.key in self._admitted:
            raise ValueError(f"workload {workload.key} is already admitted")
        entry = Admitted(workload, now)
        self._admitted[workload.key] = entry
        self._by_queue[workload.queue][workload.key] = entry
        node = self._nodes[workload.queue]
        for r, amount in workload.request.items():
            if r in self.managed:
                _add_usage(node, r, amount)

    def forget(self, key: str) -> Admitted | None:
        """Release a workload's quota; returns what was released (``None`` if it held none)."""
        admitted = self._admitted.pop(key, None)
        if admitted is not None:
            del self._by_queue[admitted.workload.queue][key]
            node = self._nodes[admitted.workload.queue]
            for r, amount in admitted.workload.request.items():
                if r in self.managed:
                    _remove_usage(node, r, amount)
        return admitted

    def restore(self, admitted: Admitted) -> None:
        """Undo a :meth:`forget` (used by preemption simulation)."""
        self.assume(admitted.workload, admitted.since)

    def admitted(self, queue: str | None = None) -> Iterator[Admitted]:
        """Admitted workloads, of one queue or of all."""
        yield from (self._admitted if queue is None else self._by_queue[queue]).values()

    def is_admitted(self, key: str) -> bool:
        return key in self._admitted


def _available(node: _Node, r: str) -> int:
    usage = node.usage.get(r, 0)
    if node.parent is None:
        return node.subtree.get(r, 0) - usage
    guaranteed = node.guaranteed.get(r, 0)
    local = max(0, guaranteed - usage)
    from_parent = _available(node.parent, r)
    borrowing_limit = node.spec.quota(r).borrowing_limit
    if borrowing_limit is not None:
        stored_in_parent = node.subtree.get(r, 0) - guaranteed
        used_in_parent = max(0, usage - guaranteed)
        from_parent = min(from_parent, stored_in_parent - used_in_parent + borrowing_limit)
    return local + from_parent


def _capacity(node: _Node, r: str) -> int:
    if node.parent is None:
        return node.subtree.get(r, 0)
    guaranteed = node.guaranteed.get(r, 0)
    from_parent = _capacity(node.parent, r)
    borrowing_limit = node.spec.quota(r).borrowing_limit
    if borrowing_limit is not None:
        from_parent = min(from_parent, node.subtree.get(r, 0) - guaranteed + borrowing_limit)
    return guaranteed + from_parent


def _add_usage(node: _Node, r: str, amount: int) -> None:
    # Only the part beyond the node's unused guarantee is drawn from (and counted in) the parent.
    local = max(0, node.guaranteed.get(r, 0) - node.usage.get(r, 0))
    node.usage[r] = node.usage.get(r, 0) + amount
    if node.parent is not None and amount > local:
        _add_usage(node.parent, r, amount - local)


def _remove_usage(node: _Node, r: str, amount: int) -> None:
    stored_in_parent = node.usage.get(r, 0) - node.guaranteed.get(r, 0)
    node.usage[r] = node.usage.get(r, 0) - amount
    if node.parent is not None and stored_in_parent > 0:
        _remove_usage(node.parent, r, min(amount, stored_in_parent))
