"""One queue's pending workloads: priority order, FIFO within a priority, and a parking lot.

Workloads wait in a heap ordered by (priority descending, creation time, key). A workload that
could not be admitted is *parked* until its backoff expires or capacity frees up:

* **BestEffortFIFO** parks just that workload; the next one becomes the head, so small jobs can run
  while a large one waits for quota.
* **StrictFIFO** puts it back at the front and parks the whole queue: nothing overtakes the head, which
  is what users who need strict arrival order rely on. A newly pushed workload that sorts before the
  blocked head (a higher priority) unblocks the queue, because it is the new head.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from motherboard.scheduler.admission import QueueingStrategy, Workload

# The key, not the arrival order, breaks ties: a requeued head sorts exactly where it sorted before.
_Key = tuple[int, float, str]


def _order(workload: Workload) -> _Key:
    return (-workload.priority, workload.created, workload.key)


@dataclass(slots=True)
class _Parked:
    workload: Workload
    until: float
    ticket: int = 0
    """Its entry in the expiry heap (a workload parked again gets a new one; the old entry is stale)."""


@dataclass(slots=True)
class PendingQueue:
    """The pending workloads of one queue (not thread-safe: the manager locks around it)."""

    name: str
    strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    _heap: list[tuple[_Key, int]] = field(default_factory=list)
    _live: dict[str, tuple[int, Workload]] = field(default_factory=dict)
    _parked: dict[str, _Parked] = field(default_factory=dict)
    _expiry: list[tuple[float, int, str]] = field(default_factory=list)
    """(until, ticket, key) of parked workloads: the next to come back is on top, so a queue with hundreds
    parked is not scanned at every pop (stale entries, of workloads released or re-parked, die lazily)."""
    _blocked_until: float | None = None
    _versions: itertools.count[int] = field(default_factory=itertools.count)

    def __len__(self) -> int:
        return len(self._live) + len(self._parked)

    def __contains__(self, key: object) -> bool:
        return key in self._live or key in self._parked

    def keys(self) -> list[str]:
        """Keys of every pending workload, parked ones included."""
        return [*self._live, *self._parked]

    def push(self, workload: Workload) -> None:
        """Add or replace ``workload`` (a new priority re-sorts it); a parked copy is released."""
        self.delete(workload.key)
        version = next(self._versions)
        self._live[workload.key] = (version, workload)
        heapq.heappush(self._heap, (_order(workload), version))
        if self._blocked_until is not None and self._top_key() == workload.key:
            self._blocked_until = None  # a new head overtakes a blocked one: give it its chance now

    def delete(self, key: str) -> bool:
        """Remove a pending workload (deleted or admitted elsewhere); heap entries die lazily."""
        return self._live.pop(key, None) is not None or self._parked.pop(key, None) is not None

    def pop_head(self, now: float) -> Workload | None:
        """Take the head out, if the queue has one ready at ``now``."""
        self._release_expired(now)
        if self._blocked_until is not None:
            if now < self._blocked_until:
                return None
            self._blocked_until = None
        key = self._top_key()
        if key is None:
            return None
        heapq.heappop(self._heap)
        return self._live.pop(key)[1]

    def requeue(self, workload: Workload, until: float) -> None:
        """Return a head that was not admitted; it (or, strictly, the queue) waits until ``until``."""
        if self.strategy is QueueingStrategy.STRICT_FIFO:
            self.push(workload)
            self._blocked_until = until
        else:
            self.delete(workload.key)
            ticket = next(self._versions)
            self._parked[workload.key] = _Parked(workload, until, ticket)
            heapq.heappush(self._expiry, (until, ticket, workload.key))

    def release(self) -> None:
        """Capacity freed up: every parked workload, and a blocked head, may be tried again now."""
        parked, self._parked = self._parked, {}
        self._expiry.clear()
        for entry in parked.values():
            self.push(entry.workload)
        self._blocked_until = None

    def next_ready(self) -> float | None:
        """The earliest time something parked becomes ready (``None`` if nothing is parked)."""
        times = [p.until for p in self._parked.values()]
        if self._blocked_until is not None:
            times.append(self._blocked_until)
        return min(times, default=None)

    def has_ready(self, now: float) -> bool:
        """Whether :meth:`pop_head` would return a workload at ``now``."""
        blocked = self._blocked_until is not None and now < self._blocked_until
        if blocked:
            return False
        return self._top_key() is not None or any(p.until <= now for p in self._parked.values())

    def _release_expired(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, ticket, key = heapq.heappop(self._expiry)
            entry = self._parked.get(key)
            if entry is not None and entry.ticket == ticket:
                self.push(self._parked.pop(key).workload)

    def _top_key(self) -> str | None:
        # Skip heap entries of deleted or re-pushed workloads (their order no longer matches).
        while self._heap:
            order, version = self._heap[0]
            key = order[2]
            live = self._live.get(key)
            if live is not None and live[0] == version:
                return key
            heapq.heappop(self._heap)
        return None
