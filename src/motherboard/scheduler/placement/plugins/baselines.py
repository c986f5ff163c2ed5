"""The published baseline scorers (Weng et al., ATC '23 artefact), reproduced to compare honestly.

Each returns the integer node score the original computes (0..100, truncated as Go's ``int64()`` does), so
ties, which the tie-break order then settles, are as frequent as in the original. Normalisation constants
are the original's: 128 cores and 8 GPUs as the largest node.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

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

MAX_CPU_MILLI = 128_000.0
MAX_GPU_MILLI = 8_000.0


def _gpu_left(snap: Snapshot, nodes: Nodes) -> Scores:
    # Sum the whole (contiguous) array, then pick rows: cheaper than gathering the rows first.
    out: Scores = snap.state.dev_milli_free.sum(axis=1)[nodes].astype(np.float64)
    return out


class BestFit:
    """Least free CPU and GPU after placement wins: ``100 · (1 − Σ ½ (free − request) / max)``."""

    name = "bestfit"

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        cpu = (snap.state.cpu_free[nodes] - pod.cpu_milli) / MAX_CPU_MILLI
        gpu = (_gpu_left(snap, nodes) - pod.gpu_milli) / MAX_GPU_MILLI
        return np.trunc((1.0 - 0.5 * cpu - 0.5 * gpu) * 100.0)


class DotProduct:
    """Tetris' alignment, as the artefact scores it: ``100 · (1 − ⟨free, request⟩ / 2)`` (max-normalised)."""

    name = "dotprod"

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        cpu = snap.state.cpu_free[nodes] / MAX_CPU_MILLI * (pod.cpu_milli / MAX_CPU_MILLI)
        gpu = _gpu_left(snap, nodes) / MAX_GPU_MILLI * (pod.gpu_milli / MAX_GPU_MILLI)
        return np.trunc((1.0 - (cpu + gpu) / 2.0) * 100.0)


class GpuPacking:
    """Prefer shared GPUs, then free GPUs on used nodes, then empty nodes (the artefact's GpuPacking).

    As published: a pod without GPUs scores 0 everywhere (the tie-break order decides); otherwise, walking
    the node's GPUs from the least free up and taking those that fit, a node scores
    ``max(100 − Σ free% / 10, 50)`` when only shared GPUs are used, ``max(50 − whole GPUs used, 33)`` when
    whole free GPUs are needed, and ``max(33 − free GPUs, free GPUs)`` when every GPU on it is free.
    """

    name = "packing"

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        req = pod.devices
        if req is None:
            return np.zeros(len(nodes))
        free = snap.state.dev_milli_free[nodes]
        count = snap.state.dev_count[nodes]
        fully_free = (free == WHOLE_MILLI).sum(axis=1)
        empty = fully_free == count
        # Least free first (stable, so equal GPUs go by index), then the first ``count`` that fit.
        ordered = np.sort(free, axis=1, kind="stable")
        fits = ordered >= req.milli
        chosen = fits & (np.cumsum(fits, axis=1) <= req.count)
        whole = (chosen & (ordered == WHOLE_MILLI)).sum(axis=1)
        ratio = np.where(chosen, ordered * 100 // WHOLE_MILLI, 0).sum(axis=1)
        out = np.where(whole > 0, np.maximum(50 - whole, 100 // 3), np.maximum(100 - ratio // 10, 50))
        out = np.where(empty, np.maximum(100 // 3 - fully_free, fully_free), out)
        scores: Scores = out.astype(np.float64)
        return scores


class RandomScore:
    """A uniformly random feasible node, and a random fitting GPU for a share (seeded per run)."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return None  # a fresh draw every cycle: never kept

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        return self._rng.random(len(nodes))

    def select_devices(
        self, state: CycleState, pod: PodRequest, snap: Snapshot, node: int
    ) -> tuple[DevicePick, ...] | None:
        req = pod.devices
        if req is None or req.kind is not DeviceKind.FRACTION:
            return None
        slots = np.flatnonzero(usable_rows(state, pod, snap, np.array([node]))[0])
        if len(slots) == 0:
            return None
        return (DevicePick(int(self._rng.choice(slots)), req.milli, req.memory_mib),)


class Spread:
    """Least allocated: the most free GPU and CPU share wins (spreads load; the opposite of best fit)."""

    name = "spread"

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        s = snap.state
        cpu = s.cpu_free[nodes] / np.maximum(s.cpu_cap[nodes], 1)
        cap = np.maximum(s.dev_count[nodes] * WHOLE_MILLI, 1)
        return 50.0 * cpu + 50.0 * _gpu_left(snap, nodes) / cap


def make_bestfit(args: Mapping[str, Any], ctx: PluginContext) -> BestFit:
    return BestFit()


def make_dotprod(args: Mapping[str, Any], ctx: PluginContext) -> DotProduct:
    return DotProduct()


def make_packing(args: Mapping[str, Any], ctx: PluginContext) -> GpuPacking:
    return GpuPacking()


def make_random(args: Mapping[str, Any], ctx: PluginContext) -> RandomScore:
    return RandomScore(int(args.get("seed", ctx.seed)))


def make_spread(args: Mapping[str, Any], ctx: PluginContext) -> Spread:
    return Spread()


_scorers: list[ScorePlugin] = [BestFit(), DotProduct(), GpuPacking(), RandomScore(0), Spread()]
_select: DeviceSelectPlugin = RandomScore(0)
