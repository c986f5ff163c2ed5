"""Mode 1: the published packing protocol (arrival only, seeded order, inflated to 130 %, no retry).

1. The cluster's nodes get a seeded tie-break order (the artefact prefixes node names with a seeded random
   permutation and its scheduler takes the smallest name among the best scores).
2. The workload is inflated: every original pod once in a seeded shuffle, then uniform draws appended
   until the next one would push the GPU request past ``ratio`` × cluster GPU capacity.
3. Pods arrive one by one; each is placed by the policy or dropped. Nothing ever leaves.
4. At every arrived-demand level the GPU allocation ratio and the fragmentation are recorded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from motherboard.scheduler.cache.cache import ClusterCache
from motherboard.scheduler.cache.types import NodeSpec, PodRequest
from motherboard.scheduler.placement.fragmentation import ClassTable, Workload, node_fragmentation
from motherboard.scheduler.placement.framework import PluginContext
from motherboard.scheduler.placement.placer import Placer
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.simulate.policies import policy_profile

REPORT_LEVELS = (100, 110, 120, 130)
"""Arrived GPU demand (% of capacity) at which the allocation is reported."""


@dataclass
class PackingResult:
    """One policy × seed run."""

    policy: str
    seed: int
    arrived: list[float] = field(default_factory=list)
    """Arrived GPU demand levels, % of capacity."""
    allocation: list[float] = field(default_factory=list)
    """GPU allocation ratio (%) at each level."""
    fragmentation: list[float] = field(default_factory=list)
    """Fragmented GPU (% of capacity) at each level."""
    allocation_ratio: float = 0.0
    placed: int = 0
    failed: int = 0
    arrivals: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    mix: str | None = None
    """The workload mix the run placed (``None``: the trace as it is)."""

    def at(self, level: float) -> float:
        """GPU allocation (%) when arrived demand first reached ``level`` % (the last figure if it never did)."""
        for arrived, allocation in zip(self.arrived, self.allocation, strict=True):
            if arrived >= level:
                return allocation
        return self.allocation_ratio

    def to_json(self) -> dict[str, object]:
        return {
            "allocation_ratio": round(self.allocation_ratio, 4),
            "at_levels": {str(lv): round(self.at(lv), 4) for lv in REPORT_LEVELS},
            "levels": [
                {"arrived": round(a, 2), "allocation": round(b, 4), "fragmentation": round(c, 4)}
                for a, b, c in zip(self.arrived, self.allocation, self.fragmentation, strict=True)
            ],
            "placed": self.placed,
            "failed": self.failed,
            "arrivals": self.arrivals,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
        }


def inflate(
    pods: list[PodRequest], capacity_milli: int, ratio: float, rng: np.random.Generator
) -> list[PodRequest]:
    """Every pod once, shuffled, then uniform draws until the next would exceed ``ratio`` of capacity.

    A list that already asks more than ``ratio`` of capacity (the multi-GPU mixes ask up to 190 %) is cut
    where the next pod would pass it, so every workload stops at the same arrived demand.
    """
    order: list[PodRequest] = []
    target = ratio * capacity_milli
    total = 0
    for i in rng.permutation(len(pods)):
        if total + pods[i].gpu_milli > target:
            return order
        order.append(pods[i])
        total += pods[i].gpu_milli
    extra = 0
    while True:
        pick = pods[int(rng.integers(len(pods)))]
        if total + pick.gpu_milli > target:
            break
        order.append(
            PodRequest(
                f"{pick.name}-tuned-{extra}",
                pick.cpu_milli,
                pick.memory_mib,
                pick.devices,
                priority=pick.priority,
                queue=pick.queue,
            )
        )
        total += pick.gpu_milli
        extra += 1
    return order


def run_packing(
    nodes: list[NodeSpec],
    pods: list[PodRequest],
    policy: str,
    seed: int,
    *,
    ratio: float = 1.3,
    step: float = 1.0,
    arrivals: Sequence[PodRequest] | None = None,
) -> PackingResult:
    """Replay the protocol once and measure it (the measured time covers placement and bookkeeping only).

    ``pods`` is the workload (inflated into the arrivals, and the task-class popularity the policies see);
    ``arrivals`` replaces the inflation with a given sequence (e.g. to compare against an exact solver).
    """
    rng = np.random.default_rng(seed)
    cache = ClusterCache(nodes, tie_rank=rng.permutation(len(nodes)).astype(np.int64))
    state = cache.live_state  # not a snapshot: one held through the run would make every write copy
    capacity = int(state.dev_count.sum()) * 1000
    if arrivals is None:
        arrivals = inflate(pods, capacity, ratio, rng)
    placer = Placer(
        policy_profile(policy), default_registry(), PluginContext(seed=seed, workload=tuple(pods))
    )
    table = ClassTable.build(Workload.from_pods(pods), cache.catalog)
    model = state.dev_model[:, 0].astype(np.int64)
    frag = node_fragmentation(state.dev_milli_free, state.cpu_free, model, table)
    result = PackingResult(policy, seed, arrivals=len(arrivals))
    arrived, allocated, next_level = 0, 0, 0.0
    dirty: set[int] = set()

    def fragmented() -> float:
        # Nodes changed since the last level are re-measured together, in one vectorised call.
        if dirty:
            rows = np.fromiter(dirty, dtype=np.intp)
            s = cache.live_state
            frag[rows] = node_fragmentation(s.dev_milli_free[rows], s.cpu_free[rows], model[rows], table)
            dirty.clear()
        return 100.0 * float(frag.sum()) / capacity

    started, cpu_started = time.perf_counter(), time.process_time()
    level = 0.0
    for pod in arrivals:
        arrived += pod.gpu_milli
        out = placer.place(pod, cache.snapshot())
        if out.placement is not None:
            cache.assume(out.placement)
            allocated += pod.gpu_milli
            result.placed += 1
            dirty.add(out.placement.node)
        else:
            result.failed += 1
        level = 100.0 * arrived / capacity
        if level >= next_level:
            result.arrived.append(level)
            result.allocation.append(100.0 * allocated / capacity)
            result.fragmentation.append(fragmented())
            next_level = (int(level / step) + 1) * step
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    result.allocation_ratio = 100.0 * allocated / capacity
    if not result.arrived or result.arrived[-1] < level:
        result.arrived.append(level)
        result.allocation.append(result.allocation_ratio)
        result.fragmentation.append(fragmented())
    return result
