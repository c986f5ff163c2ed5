"""Mode 2: a time-driven replay with arrivals, departures and queue priorities.

Pods arrive at their ``creation_time`` and run for ``deletion_time − scheduled_time`` (or from creation when
the trace has no start). Waiting pods are retried after every event, highest priority first (LS and
Guaranteed ahead of Burstable ahead of BE), oldest first within a priority. Reported: queueing delay, job
completion time, time-weighted GPU utilisation and each tenant's (QoS class's) time-weighted GPU share.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from motherboard.scheduler.cache.cache import ClusterCache
from motherboard.scheduler.cache.types import PodRequest
from motherboard.scheduler.placement.framework import PluginContext
from motherboard.scheduler.placement.placer import Placer
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.simulate.convert import node_spec, pod_request
from motherboard.scheduler.simulate.policies import policy_profile
from motherboard.scheduler.simulate.trace import load_nodes, load_pods

RETRY_BUDGET = 64
"""Failed placement attempts per event before the rest of the queue waits for the next event."""


@dataclass
class ReplayReport:
    policy: str
    placed: int = 0
    unplaced: int = 0
    delays: list[float] = field(default_factory=list)
    jcts: list[float] = field(default_factory=list)
    utilisation_area: float = 0.0
    share_area: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    span: float = 0.0

    @property
    def mean_delay(self) -> float:
        return sum(self.delays) / len(self.delays) if self.delays else 0.0

    @property
    def mean_jct(self) -> float:
        return sum(self.jcts) / len(self.jcts) if self.jcts else 0.0

    @property
    def mean_utilisation(self) -> float:
        return 100.0 * self.utilisation_area / self.span if self.span else 0.0

    def to_json(self) -> dict[str, object]:
        total = sum(self.share_area.values()) or 1.0
        return {
            "placed": self.placed,
            "unplaced": self.unplaced,
            "mean_queue_delay_s": round(self.mean_delay, 2),
            "mean_jct_s": round(self.mean_jct, 2),
            "mean_gpu_utilisation_pct": round(self.mean_utilisation, 3),
            "tenant_gpu_share_pct": {k: round(100 * v / total, 2) for k, v in self.share_area.items()},
        }


def run_replay(trace: Path, nodes_path: Path, policy: str, *, limit: int | None = None) -> ReplayReport:
    """Replay ``trace`` on the nodes in ``nodes_path`` under ``policy``."""
    rows = load_pods(trace)[:limit] if limit else load_pods(trace)
    nodes = [node_spec(n) for n in load_nodes(nodes_path)]
    cache = ClusterCache(nodes)
    capacity = max(int(cache.snapshot().state.dev_count.sum()) * 1000, 1)
    pods = [pod_request(r) for r in rows]
    placer = Placer(policy_profile(policy), default_registry(), PluginContext(workload=tuple(pods)))
    events: list[tuple[float, int, int]] = []  # (time, kind: 0 departure first, pod index)
    duration: dict[int, float] = {}
    for i, row in enumerate(rows):
        created = float(row.creation_time or 0)
        start = float(row.scheduled_time if row.scheduled_time is not None else created)
        end = row.deletion_time
        duration[i] = max(float(end) - start, 0.0) if end is not None else float("inf")
        heapq.heappush(events, (created, 1, i))
    report = ReplayReport(policy)
    queue: list[tuple[int, float, int]] = []  # (-priority, created, index)
    used: dict[str, int] = defaultdict(int)
    now = 0.0
    while events:
        t, kind, i = heapq.heappop(events)
        _accumulate(report, used, capacity, t - now)
        now = t
        if kind == 0:
            cache.forget(pods[i].name)
            used[pods[i].queue] -= pods[i].gpu_milli
        else:
            heapq.heappush(queue, (-pods[i].priority, t, i))
        _drain(queue, cache, placer, pods, duration, events, report, used, now)
    report.unplaced = len(queue)
    return report


def _drain(
    queue: list[tuple[int, float, int]],
    cache: ClusterCache,
    placer: Placer,
    pods: list[PodRequest],
    duration: dict[int, float],
    events: list[tuple[float, int, int]],
    report: ReplayReport,
    used: dict[str, int],
    now: float,
) -> None:
    waiting: list[tuple[int, float, int]] = []
    failures = 0
    while queue and failures < RETRY_BUDGET:
        item = heapq.heappop(queue)
        pod = pods[item[2]]
        out = placer.place(pod, cache.snapshot())
        if out.placement is None:
            waiting.append(item)
            failures += 1
            continue
        cache.assume(out.placement)
        used[pod.queue] += pod.gpu_milli
        report.placed += 1
        report.delays.append(now - item[1])
        if duration[item[2]] != float("inf"):
            report.jcts.append(now - item[1] + duration[item[2]])
            heapq.heappush(events, (now + duration[item[2]], 0, item[2]))
    for item in waiting:
        heapq.heappush(queue, item)


def _accumulate(report: ReplayReport, used: dict[str, int], capacity: int, dt: float) -> None:
    if dt <= 0:
        return
    report.span += dt
    report.utilisation_area += dt * sum(used.values()) / capacity
    for tenant, milli in used.items():
        report.share_area[tenant] += dt * milli
