"""The recent workload that workload-aware placement plugins weigh, and when to rebuild them from it.

``share-pairing`` prices GPU shares by the sizes the workload asks for, ``stranding`` weighs CPU and memory
against GPUs by the workload's ratios, ``fgd`` weights its task classes by popularity: all of them read
the workload when the placer is built. The simulator hands them the trace; the live scheduler hands them
the shapes of the last pods it has seen (pending or bound, its own schedulerName only), and rebuilds the
placer (on a worker thread, see ``World.before_cycle``) when enough new pods arrived since, but not more
often than every ``min_interval_s``: a rebuild solves a small LP (a few hundred milliseconds for twenty
share sizes) and drops the placer's kept scores.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from motherboard.scheduler.cache.types import PodRequest


class RecentWorkload:
    """The last ``size`` pod shapes seen, and whether the placer should be rebuilt from them."""

    def __init__(
        self,
        size: int = 2000,
        min_new: int = 50,
        min_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pods: deque[PodRequest] = deque(maxlen=size)
        self._min_new = min_new
        self._min_interval = min_interval_s
        self._clock = clock
        self._new = 0
        self._built_at: float | None = None
        """When the placer was last built from a non-empty workload (``None``: never)."""

    def add(self, pod: PodRequest) -> None:
        self._pods.append(pod)
        self._new += 1

    def due(self) -> bool:
        """The first pods ever seen, or ``min_new`` more since the last rebuild and ``min_interval_s`` gone."""
        if self._new == 0:
            return False
        if self._built_at is None:
            return True
        return self._new >= self._min_new and self._clock() - self._built_at >= self._min_interval

    def take(self) -> tuple[PodRequest, ...]:
        """The workload to build the placer from; counts as a rebuild."""
        self._new, self._built_at = 0, self._clock()
        return tuple(self._pods)
