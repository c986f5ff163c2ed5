"""The queue tree: the shared quota model (:mod:`motherboard.api.quota`) plus the workloads holding quota.

The arithmetic — nominal, borrowing and lending limits, what each queue may still use — is
:class:`~motherboard.api.quota.Hierarchy`, the same code the admission webhook's rule and the operator's
``status.usage`` use (semantics and a worked example: ``docs/quota.md``). This module adds what admission
needs on top: which workloads are admitted where, and since when.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from motherboard.api.quota import Hierarchy, HierarchyError, QueueQuota, forest
from motherboard.scheduler.admission.resources import Resources
from motherboard.scheduler.admission.spec import QueueSpec, Workload


class QueueConfigError(HierarchyError):
    """The queue specs do not form a tree (unknown parent, a cycle, a duplicate name), or a bad quota."""


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

    def __init__(self, specs: Iterable[QueueSpec], *, inactive: dict[str, str] | None = None) -> None:
        specs = list(specs)
        self._specs: dict[str, QueueSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise QueueConfigError(f"duplicate queue {spec.name!r}")
            self._specs[spec.name] = spec
        try:
            self.model = Hierarchy(QueueQuota(s.name, s.parent, s.quotas) for s in specs)
        except HierarchyError as exc:
            raise QueueConfigError(str(exc)) from exc
        self.managed: frozenset[str] = self.model.resources
        """Resources some queue has quota for; admission ignores the rest of a request."""
        self.inactive: dict[str, str] = dict(inactive or {})
        """Queues left out of the tree (see :meth:`tolerant`), and why: their workloads wait and say so."""
        self._admitted: dict[str, Admitted] = {}
        self._by_queue: dict[str, dict[str, Admitted]] = {name: {} for name in self._specs}
        self._before_growth: dict[str, Admitted] = {}
        """Workloads that grew this cycle (:meth:`grow`), as they were: what :meth:`retract` restores."""

    @classmethod
    def tolerant(cls, specs: Iterable[QueueSpec]) -> QuotaTree:
        """A tree of the queues that form one: a queue with a missing parent or in a cycle is left out with
        its subtree (listed in :attr:`inactive` with the reason); every other tree works as before."""
        by_name = {s.name: s for s in specs}
        kept, dropped = forest(QueueQuota(s.name, s.parent, s.quotas) for s in by_name.values())
        return cls([by_name[q.name] for q in kept], inactive=dropped)

    # --- structure ------------------------------------------------------------------------------------
    def __contains__(self, queue: object) -> bool:
        return queue in self._specs

    def spec(self, queue: str) -> QueueSpec:
        """The spec the tree was built from for ``queue``."""
        return self._specs[queue]

    def roots(self) -> list[str]:
        """Queues without a parent: each is the top of an independent tree."""
        return [name for name in self._specs if self.model.parent(name) is None]

    def is_leaf(self, queue: str) -> bool:
        """Whether the queue has no children (only leaves hold workloads, as in Kueue)."""
        return not self.model.children(queue)

    def parent(self, queue: str) -> str | None:
        """The queue's parent, ``None`` for a root."""
        return self.model.parent(queue)

    def path(self, queue: str) -> list[str]:
        """Queue names from the root down to ``queue``."""
        names: list[str] = []
        walk: str | None = queue
        while walk is not None:
            names.append(walk)
            walk = self.model.parent(walk)
        return names[::-1]

    def root_of(self, queue: str) -> str:
        return self.path(queue)[0]

    def queues(self) -> list[str]:
        """All queue names, in the order the specs were given."""
        return list(self._specs)

    # --- quota queries --------------------------------------------------------------------------------
    def usage(self, queue: str) -> Resources:
        """What the queue's subtree uses (a parent: all its children together)."""
        return Resources({r: self.model.usage(queue, r) for r in self.managed})

    def usage_of(self, queue: str, resource: str) -> int:
        """What the queue's subtree uses of one resource (:meth:`usage` for one, without building all)."""
        return self.model.usage(queue, resource)

    def nominal(self, queue: str, resource: str) -> int:
        """The queue's nominal quota (a parent without a quota of ``resource``: its children's, summed)."""
        return self.model.nominal(queue, resource)

    def guaranteed(self, queue: str, resource: str) -> int:
        return self.model.guaranteed(queue, resource)

    def available(self, queue: str, resource: str) -> int:
        """How much more of ``resource`` the queue may use now (negative when over-committed)."""
        return self.model.available(queue, resource)

    def capacity(self, queue: str, resource: str) -> int:
        """The most of ``resource`` the queue could ever hold: its availability in an idle tree."""
        return self.model.capacity(queue, resource)

    def fits(self, queue: str, request: Resources, *, allow_borrowing: bool = True) -> bool:
        """Whether ``request`` fits the queue now; without borrowing it must also fit its own nominal."""
        for r, amount in request.items():
            if r not in self.managed:
                continue
            if amount > self.model.available(queue, r):
                return False
            if not allow_borrowing and self.model.usage(queue, r) + amount > self.model.nominal(queue, r):
                return False
        return True

    def is_borrowing(self, queue: str, resources: Iterable[str] | None = None) -> bool:
        """Whether the queue's subtree uses more than its nominal of any of ``resources`` (default: any)."""
        names = self.managed if resources is None else resources
        return any(self.model.borrowed(queue, r) > 0 for r in names if r in self.managed)

    # --- admitted workloads ---------------------------------------------------------------------------
    def assume(self, workload: Workload, now: float = 0.0) -> None:
        """Count ``workload``'s request against its queue and every ancestor."""
        if workload.key in self._admitted:
            raise ValueError(f"workload {workload.key} is already admitted")
        entry = Admitted(workload, now)
        self._admitted[workload.key] = entry
        self._by_queue[workload.queue][workload.key] = entry
        for r, amount in workload.request.items():
            self.model.charge(workload.queue, r, amount)

    def forget(self, key: str) -> Admitted | None:
        """Release a workload's quota; returns what was released (``None`` if it held none)."""
        admitted = self._admitted.pop(key, None)
        if admitted is not None:
            del self._by_queue[admitted.workload.queue][key]
            for r, amount in admitted.workload.request.items():
                self.model.charge(admitted.workload.queue, r, -amount)
        return admitted

    def grow(self, workload: Workload, now: float = 0.0) -> Workload:
        """Admit more pods of an admitted elastic workload: its charge becomes the sum (returned).

        An elastic gang started with fewer pods than it has (partial admission) grows as quota frees; it
        stays one workload, so it is released, preempted and re-charged as one.
        """
        before = self.forget(workload.key)
        if before is None:
            self.assume(workload, now)
            return workload
        self._before_growth.setdefault(workload.key, before)
        old = before.workload
        grown = Workload(
            old.key, old.queue, old.request + workload.request, max(old.priority, workload.priority),
            old.created, old.preemptible and workload.preemptible, old.pods + workload.pods,
        )  # fmt: skip
        self.assume(grown, before.since)
        return grown

    def retract(self, key: str) -> None:
        """Undo this cycle's admission of ``key`` (its placement failed): a growth goes back to what the
        workload held before; a new admission is forgotten."""
        self.forget(key)
        before = self._before_growth.pop(key, None)
        if before is not None:
            self.restore(before)

    def settle(self, key: str) -> None:
        """The admission of ``key`` stands (its pods are being bound): nothing to retract any more."""
        self._before_growth.pop(key, None)

    def workload(self, key: str) -> Workload | None:
        """The admitted workload ``key`` as charged (grown ones: all their pods)."""
        entry = self._admitted.get(key)
        return None if entry is None else entry.workload

    def restore(self, admitted: Admitted) -> None:
        """Undo a :meth:`forget` (used by preemption simulation)."""
        self.assume(admitted.workload, admitted.since)

    def admitted(self, queue: str | None = None) -> Iterator[Admitted]:
        """Admitted workloads, of one queue or of all."""
        yield from (self._admitted if queue is None else self._by_queue[queue]).values()

    def is_admitted(self, key: str) -> bool:
        return key in self._admitted
