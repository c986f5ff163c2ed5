"""Device-level best fit: the node whose devices the pod fills most exactly.

* A GPU share scores by the tightest gap it can take: ``100 · (1 − (free − request) / 1000)`` on the best
  usable GPU, so shares pair up into whole GPUs instead of leaving slivers.
* Whole devices score by how many free whole devices would stay idle on the node (an exact fit scores 100).
* A pod without devices scores by the idle GPU compute of the node (none idle: 100), so CPU-only work goes
  where it strands no accelerators.

On its own a packing heuristic; as a tie-break under a coarse primary score (quantised FGD) it settles the
score's buckets (measured in docs/benchmarks-packing.md; not in the default profile).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import WHOLE_MILLI, DeviceKind, PodRequest
from motherboard.scheduler.placement.framework import (
    CycleState,
    Nodes,
    PluginContext,
    ScorePlugin,
    Scores,
    shape_key,
    usable_rows,
)

MAX_DEVICES = 8.0
"""Normalisation for the idle-device terms: the largest node in the published cluster has 8 GPUs."""


class GpuFit:
    """Scores how exactly the pod fills the node's devices (100 exact, lower the more it leaves idle)."""

    name = "gpu-fit"

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        s = snap.state
        free = s.dev_milli_free[nodes]
        req = pod.devices
        if req is None:
            idle = free.sum(axis=1) / (MAX_DEVICES * WHOLE_MILLI)
            return np.asarray(100.0 * (1.0 - idle), dtype=np.float64)
        usable = usable_rows(state, pod, snap, nodes)
        if req.kind is DeviceKind.FRACTION:
            gap = np.where(usable, free - req.milli, WHOLE_MILLI).min(axis=1)
            return np.asarray(100.0 * (1.0 - gap / WHOLE_MILLI), dtype=np.float64)
        spare = usable.sum(axis=1) - req.count
        return np.asarray(np.maximum(100.0 - 100.0 * spare / MAX_DEVICES, 0.0), dtype=np.float64)


def make(args: Mapping[str, Any], ctx: PluginContext) -> GpuFit:
    return GpuFit()


_: ScorePlugin = GpuFit()
