"""Transaction: tentative allocations and evictions, then commit or discard (Volcano's Statement).

A gang is placed by allocating its pods one by one inside a transaction: each member sees the earlier
members' allocations through :meth:`Transaction.view`. If any member cannot be placed the transaction is
discarded and the cache never saw any of it; otherwise :meth:`commit` applies all of it at once.
"""

from __future__ import annotations

from dataclasses import replace

from motherboard.scheduler.cache.cache import ClusterCache
from motherboard.scheduler.cache.devices import apply
from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.state import ClusterState
from motherboard.scheduler.cache.types import Placement


class TransactionConflict(RuntimeError):
    """The cache changed after the transaction began; re-run the cycle on a fresh snapshot."""


class Transaction:
    """Tentative work on top of one snapshot of a cache."""

    def __init__(self, cache: ClusterCache, base: Snapshot | None = None) -> None:
        self._cache = cache
        self._base = base or cache.snapshot()
        self._work: ClusterState | None = None
        self._allocated: list[Placement] = []
        self._evicted: list[Placement] = []
        self._open = True

    def view(self) -> Snapshot:
        """The snapshot with this transaction's work applied."""
        if self._work is None:
            return self._base
        return replace(self._base, state=self._work)

    def allocate(self, placement: Placement) -> None:
        """Tentatively charge ``placement``."""
        self._check_open()
        apply(self._writable(), placement, +1)
        self._allocated.append(placement)

    def evict(self, pod: str) -> Placement:
        """Tentatively release a placed pod (preemption); the victim leaves only if the transaction commits."""
        self._check_open()
        placement = self._cache.placement(pod)
        if placement is None:
            raise KeyError(pod)
        apply(self._writable(), placement, -1)
        self._evicted.append(placement)
        return placement

    def rollback(self, count: int) -> None:
        """Undo the last ``count`` allocations (a gang attempt that failed part-way)."""
        self._check_open()
        for _ in range(count):
            apply(self._writable(), self._allocated.pop(), -1)

    @property
    def allocated(self) -> tuple[Placement, ...]:
        return tuple(self._allocated)

    @property
    def evicted(self) -> tuple[Placement, ...]:
        return tuple(self._evicted)

    def commit(self) -> None:
        """Apply everything to the cache: victims are forgotten, new placements assumed."""
        self._check_open()
        if self._cache.generation != self._base.generation:
            raise TransactionConflict("the cluster cache changed while the transaction was open")
        for victim in self._evicted:
            self._cache.forget(victim.pod.name)
        for placement in self._allocated:
            self._cache.assume(placement)
        self._open = False

    def discard(self) -> None:
        """Drop all tentative work; the cache is untouched."""
        self._work = None
        self._allocated.clear()
        self._evicted.clear()
        self._open = False

    def _writable(self) -> ClusterState:
        if self._work is None:
            self._work = self._base.state.copy()
        return self._work

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("transaction already committed or discarded")
