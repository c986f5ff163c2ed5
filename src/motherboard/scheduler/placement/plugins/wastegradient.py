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
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import WHOLE_MILLI, DeviceKind, DevicePick, PodRequest
from motherboard.scheduler.placement.framework import (
    CycleState,
    DeviceSelectPlugin,
    Nodes,
    PluginContext,
    ScorePlugin,
    Scores,
    shape_key,
    usable_rows,
)

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


class WasteGradient:
    """Scores GPU shares by the change in expected eventual waste; picks the GPU that minimises it."""

    name = "waste-gradient"

    def __init__(self, value: F64, quantum: float = 0.0) -> None:
        self._value = value
        self._values: list[float] = value.tolist()
        self._quantum = quantum
        # Per request shape: each node's best change and the version stamp it was computed at.
        self._names: tuple[str, ...] | None = None
        self._best: dict[tuple[object, ...], tuple[F64, NDArray[np.int64]]] = {}

    def _best_change(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> F64:
        """Each of ``nodes``' best change, recomputing only nodes changed since this shape last looked."""
        req = pod.devices
        assert req is not None
        s = snap.state
        if self._names is not s.names or len(self._best) > 512:
            self._names, self._best = s.names, {}
        key = (req.milli, req.memory_mib, req.models, req.vendor, req.resource)
        entry = self._best.get(key)
        if entry is None:
            entry = (np.zeros(s.size), np.full(s.size, -1, dtype=np.int64))
            self._best[key] = entry
        best, stamp = entry
        stale = nodes[stamp[nodes] != s.version[nodes]]
        if len(stale):
            delta = self._delta(state, pod, snap, stale)
            assert delta is not None
            change = delta.min(axis=1)
            best[stale] = np.where(np.isfinite(change), change, 0.0)
            stamp[stale] = s.version[stale]
        return best[nodes]

    def _delta(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> F64 | None:
        req = pod.devices
        if req is None or req.kind is not DeviceKind.FRACTION:
            return None
        free = snap.state.dev_milli_free[nodes]  # always within 0..1000
        delta = self._value[np.maximum(free - req.milli, 0)] - self._value[free]
        out: F64 = np.where(usable_rows(state, pod, snap, nodes), delta, np.inf)
        return out

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        req = pod.devices
        if req is None or req.kind is not DeviceKind.FRACTION:
            return np.zeros(len(nodes))
        best = self._best_change(state, pod, snap, nodes)
        if self._quantum > 0:
            best = np.round(best / self._quantum) * self._quantum
        out: Scores = -best
        return out

    def select_devices(
        self, state: CycleState, pod: PodRequest, snap: Snapshot, node: int
    ) -> tuple[DevicePick, ...] | None:
        req = pod.devices
        if req is None or req.kind is not DeviceKind.FRACTION:
            return None
        # One node: plain Python over its few GPUs (the same float64 arithmetic as :meth:`_delta`).
        usable = usable_rows(state, pod, snap, np.array([node]))[0].tolist()
        free = snap.state.dev_milli_free[node].tolist()
        value = self._values
        deltas = [
            (value[max(f - req.milli, 0)] - value[f], j)
            for j, (f, ok) in enumerate(zip(free, usable, strict=True))
            if ok
        ]
        if not deltas:
            return None
        # Among the GPUs with the best change, the fullest (best fit), then the lowest index.
        low = min(d for d, _ in deltas) + 1e-9
        gpu = min((free[j], j) for d, j in deltas if d <= low)[1]
        return (DevicePick(gpu, req.milli, req.memory_mib),)


def make(args: Mapping[str, Any], ctx: PluginContext) -> WasteGradient:
    value = expected_waste(ctx.workload, float(args.get("stop", 0.05)))
    return WasteGradient(value, float(args.get("quantum", 0.0)))


_s: ScorePlugin = WasteGradient(np.zeros(WHOLE_MILLI + 1))
_d: DeviceSelectPlugin = WasteGradient(np.zeros(WHOLE_MILLI + 1))
