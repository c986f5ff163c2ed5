"""CPU, memory and pod-count fit, as kube-scheduler's NodeResourcesFit filters them."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import PodRequest
from motherboard.scheduler.placement.framework import (
    CycleState,
    FilterPlugin,
    Mask,
    NodeLocalFilter,
    Nodes,
    PluginContext,
    Rejection,
)


class ResourcesFit:
    """Rejects nodes without the pod's CPU or memory free, or with no room for one more pod."""

    name = "resources-fit"

    def filter_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return (pod.cpu_milli, pod.memory_mib)

    def feasible_rows(self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes) -> Mask | None:
        s = snap.state
        ok: Mask = s.pods_free[rows] > 0
        if pod.cpu_milli:
            ok &= s.cpu_free[rows] >= pod.cpu_milli
        if pod.memory_mib:
            ok &= s.mem_free[rows] >= pod.memory_mib
        return ok

    def filter(self, state: CycleState, pod: PodRequest, snap: Snapshot) -> list[Rejection]:
        s = snap.state
        out = [Rejection("Too many pods", s.pods_free < 1)]
        if pod.cpu_milli:
            out.append(Rejection("Insufficient cpu", s.cpu_free < pod.cpu_milli))
        if pod.memory_mib:
            out.append(Rejection("Insufficient memory", s.mem_free < pod.memory_mib))
        return out


def make(args: Mapping[str, Any], ctx: PluginContext) -> ResourcesFit:
    return ResourcesFit()


_: FilterPlugin = ResourcesFit()
_k: NodeLocalFilter = ResourcesFit()
