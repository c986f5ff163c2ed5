"""``QueueManager``: pending workloads of every queue, and one head per queue for each cycle.

The cycle takes the heads (:meth:`QueueManager.heads` removes them), decides for each, and hands back
every head it did not admit with :meth:`QueueManager.requeue`. A requeued workload waits with an
exponential backoff, or until :meth:`QueueManager.notify_capacity_freed` says that something finished or
was evicted (Kueue re-queues inadmissible workloads on such events; the backoff is the fallback that
keeps a lost event from stranding work).

Time is a parameter (``now``) or an injected clock, so the simulator replays without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from motherboard.scheduler.admission import QueueingStrategy, Workload
from motherboard.scheduler.queueing.pending import PendingQueue


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff for requeued workloads: ``base * factor**(attempts - 1)``, at most ``cap``."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed try (1 for the first)."""
        return min(self.cap, self.base * self.factor ** max(0, attempts - 1))


class QueueManager:
    """Pending workloads per queue; thread-safe, so watch handlers can push while the cycle runs."""

    def __init__(
        self, *, backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._queues: dict[str, PendingQueue] = {}
        self._attempts: dict[str, int] = {}
        self._cond = threading.Condition()

    # --- queues ---------------------------------------------------------------------------------------
    def set_queue(self, name: str, strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO) -> None:
        """Declare a queue, or change its strategy (its pending workloads stay)."""
        with self._cond:
            queue = self._queues.get(name)
            if queue is None:
                self._queues[name] = PendingQueue(name, strategy)
            else:
                queue.strategy = strategy

    def remove_queue(self, name: str) -> list[str]:
        """Drop a queue; returns the keys of workloads that were pending in it."""
        with self._cond:
            queue = self._queues.pop(name, None)
            return [] if queue is None else queue.keys()

    # --- workloads ------------------------------------------------------------------------------------
    def push(self, workload: Workload) -> None:
        """A new or changed pending workload (its queue is created, best-effort, if unknown)."""
        with self._cond:
            if workload.queue not in self._queues:
                self._queues[workload.queue] = PendingQueue(workload.queue)
            self._queues[workload.queue].push(workload)
            self._cond.notify_all()

    def delete(self, key: str) -> bool:
        """Forget a workload (deleted by its owner, or admitted: its backoff history ends)."""
        with self._cond:
            self._attempts.pop(key, None)
            return any(queue.delete(key) for queue in self._queues.values())

    def heads(self, now: float | None = None) -> list[Workload]:
        """Remove and return one ready head per queue, highest priority (then oldest) first.

        Every head not admitted must come back through :meth:`requeue`; the admitted ones through
        :meth:`delete` (to reset their backoff).
        """
        at = self._clock() if now is None else now
        with self._cond:
            heads = [h for q in self._queues.values() if (h := q.pop_head(at)) is not None]
        return sorted(heads, key=lambda w: (-w.priority, w.created, w.key))

    def requeue(self, workload: Workload, now: float | None = None, *, backoff: bool = True) -> float:
        """Give back a head that was not admitted; returns when it will be tried again.

        ``backoff=False`` retries it at the next cycle (e.g. a preemptor waiting only for its victims).
        """
        at = self._clock() if now is None else now
        with self._cond:
            attempts = self._attempts.get(workload.key, 0) + 1
            self._attempts[workload.key] = attempts
            until = at + self._backoff.delay(attempts) if backoff else at
            if workload.queue not in self._queues:
                self._queues[workload.queue] = PendingQueue(workload.queue)
            self._queues[workload.queue].requeue(workload, until)
            self._cond.notify_all()
            return until

    def notify_capacity_freed(self, queues: Iterable[str] | None = None) -> None:
        """Something finished or was evicted: retry parked workloads now (of ``queues``, or all).

        Pass the queues of the tree whose quota was freed; a workload elsewhere could not use it.
        """
        with self._cond:
            names = list(self._queues) if queues is None else [q for q in queues if q in self._queues]
            for name in names:
                self._queues[name].release()
            self._cond.notify_all()

    def wait_for_heads(self, timeout: float | None = None) -> bool:
        """Block until some queue has a head ready, or ``timeout`` passes; returns whether one is ready."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                now = self._clock()
                if any(q.has_ready(now) for q in self._queues.values()):
                    return True
                wake = [t for q in self._queues.values() if (t := q.next_ready()) is not None]
                if deadline is not None:
                    wake.append(deadline)
                    if now >= deadline:
                        return False
                self._cond.wait(None if not wake else max(0.0, min(wake) - now))

    # --- inspection -----------------------------------------------------------------------------------
    def pending(self, queue: str | None = None) -> int:
        """How many workloads are pending (parked included), in one queue or in all."""
        with self._cond:
            if queue is not None:
                return len(self._queues[queue]) if queue in self._queues else 0
            return sum(len(q) for q in self._queues.values())

    def attempts(self, key: str) -> int:
        """How many times ``key`` was requeued since it was pushed or last admitted."""
        with self._cond:
            return self._attempts.get(key, 0)
