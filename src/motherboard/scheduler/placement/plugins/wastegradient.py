"""Expected-waste gradient: place a GPU share where the expected never-filled GPU compute grows least.

The fragmentation gradient asks, one pod ahead, which task classes could still use a GPU's free share. This
scorer looks further: a GPU whose free share is ``f`` milli will be filled by the pods that fit it, one at a
time, until the cluster stops handing it any. With ``p_c`` the popularity of the classes whose per-GPU
request fits and ``s`` a stopping weight (how likely the GPU is left alone for good before the next pod),
its expected eventual waste is

    V(0) = 0,    V(f) = (s · f + Σ_{c ≤ f} p_c · V(f − c)) / (s + Σ_{c ≤ f} p_c)

so a gap that only rare classes fit is nearly all waste, and a gap that the common classes fill exactly is
nearly none. Putting a share of ``m`` on a GPU with ``f`` free changes the expectation by
``V(f − m) − V(f)``; the node's score is the best (lowest) change over its usable GPUs, negated, and the
device selector takes that GPU. Whole-GPU pods and pods without GPUs score 0 (the other scorers decide).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import WHOLE_MILLI, DeviceKind, PodRequest
from motherboard.scheduler.placement.framework import (
    CycleState,
    DeviceSelectPlugin,
    Nodes,
    PluginContext,
    ScorePlugin,
    Scores,
)
from motherboard.scheduler.placement.sharegap import ShareGapScorer

F64 = NDArray[np.float64]


def expected_waste(workload: Sequence[PodRequest], stop: float) -> F64:
    """``V(f)`` for ``f`` in 0..1000 milli (see the module docstring); popularity by pod count."""
    counts: Counter[int] = Counter()
    for pod in workload:
        d = pod.devices
        if d is not None and d.kind is not DeviceKind.PARTITION:
            counts[d.milli] += d.count  # a k-GPU pod takes k whole GPUs: k arrivals of 1000 to a GPU
    total = sum(counts.values())
    value = np.arange(WHOLE_MILLI + 1, dtype=np.float64)
    if total == 0:
        return value
    sizes = np.array(sorted(counts), dtype=np.int64)
    prob = np.array([counts[int(m)] for m in sizes], dtype=np.float64) / total
    for f in range(1, WHOLE_MILLI + 1):
        fit = sizes <= f
        mass = prob[fit].sum()
        value[f] = (stop * f + (prob[fit] * value[f - sizes[fit]]).sum()) / (stop + mass)
    return value


class WasteGradient(ShareGapScorer):
    """Scores GPU shares by the change in expected eventual waste; picks the GPU that minimises it."""

    name = "waste-gradient"

    def __init__(self, value: F64, quantum: float = 0.0) -> None:
        super().__init__()
        self._value = value
        self._values: list[float] = value.tolist()
        self._quantum = quantum

    def change(self, free: NDArray[np.int64], milli: int) -> F64:
        out: F64 = self._value[np.maximum(free - milli, 0)] - self._value[free]  # free is within 0..1000
        return out

    def change_one(self, free: int, milli: int) -> float:
        return self._values[max(free - milli, 0)] - self._values[free]

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        out = super().score(state, pod, snap, nodes)
        if self._quantum > 0:
            out = -np.round(-out / self._quantum) * self._quantum
        return out


def make(args: Mapping[str, Any], ctx: PluginContext) -> WasteGradient:
    value = expected_waste(ctx.workload, float(args.get("stop", 0.05)))
    return WasteGradient(value, float(args.get("quantum", 0.0)))


_s: ScorePlugin = WasteGradient(np.zeros(WHOLE_MILLI + 1))
_d: DeviceSelectPlugin = WasteGradient(np.zeros(WHOLE_MILLI + 1))
