"""Fragmentation-gradient scoring (FGD): place where the expected unusable GPU share grows least.

For every feasible node (and, for a GPU share, every GPU that fits) the plugin computes the node's
fragmentation before and after the placement under the recent workload's task classes; the score is the
decrease. ``quantise: true`` reproduces the published score ``int(100 · sigmoid((F_before − F_after)/1000))``
(ties then go to the next scorer or the tie-break order); ``quantise: false`` keeps the exact gradient
(measured: it spreads pods and loses about 2.5 points on the default trace).

Arguments (profile ``pluginArgs.fgd``): ``scale`` (the sigmoid's divisor, 1000 as published) and
``share_scale`` (the divisor for GPU shares only: coarser steps leave more ties for a tie-break scorer to
settle), ``coverage`` (popularity threshold of the kept task
classes, 0.95), ``memory`` (memory-aware classes), ``weighting: demand`` (classes weighted by GPU demand,
not count), ``gpu: tight`` (among a node's equally scored GPUs the fullest, not the lowest index) and
``shares: false`` (leave GPU shares to another scorer).

Scores depend only on the pod's task class and the node's state, so they are cached per class and a node is
recomputed only when its version stamp changed since the class last looked: after the first pod of a class,
a placement costs one node's recomputation, not the cluster's.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import DeviceKind, DevicePick, PodRequest
from motherboard.scheduler.placement.fragmentation import (
    ClassTable,
    StateFragmentation,
    Workload,
    weighted_fragmentation,
)
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

I64 = NDArray[np.int64]
DEDUP_ABOVE = 32
"""Stale-node count above which identical node states are deduplicated before scoring (sorting costs more
than it saves on the few nodes a single placement dirties)."""
SCALAR_ROWS = 32
"""Stale-node count up to which nodes are scored one by one in Python through the state memo (numpy's
per-call overhead costs more than the arithmetic of a few nodes)."""


@dataclass
class _ClassScores:
    score: NDArray[np.float64]
    gpu: I64
    stamp: I64


class FragmentationGradient:
    """The FGD scorer and device selector."""

    def __init__(
        self,
        workload: Workload,
        *,
        quantise: bool,
        memory: bool = False,
        name: str = "fgd",
        scale: float = 1000.0,
        share_scale: float | None = None,
        tight_gpu: bool = False,
        shares: bool = True,
    ) -> None:
        self.name = name
        self._shares = shares
        self._scale_milli = scale
        self._share_scale = share_scale or scale
        self._tight = tight_gpu
        self._memory = memory
        self._workload = workload
        self._quantise = quantise
        self._table: ClassTable | None = None
        self._table_key: tuple[int, int] = (0, -1)
        self._names: tuple[str, ...] | None = None
        self._classes: dict[tuple[object, ...], _ClassScores] = {}
        self._memo: StateFragmentation | None = None
        self._memo_table: ClassTable | None = None
        self._scaled: dict[tuple[int, float], float] = {}

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        if not self._shares and pod.devices is not None and pod.devices.kind is DeviceKind.FRACTION:
            return np.zeros(len(nodes))  # GPU shares are left to another scorer
        entry = self._fresh(state, pod, snap, nodes)
        return entry.score[nodes]

    def select_devices(
        self, state: CycleState, pod: PodRequest, snap: Snapshot, node: int
    ) -> tuple[DevicePick, ...] | None:
        req = pod.devices
        if req is None or req.kind is not DeviceKind.FRACTION:
            return None  # whole devices: the lowest-index free ones, as the default picker takes them
        entry = self._fresh(state, pod, snap, np.array([node]))
        gpu = int(entry.gpu[node])
        return None if gpu < 0 else (DevicePick(gpu, req.milli, req.memory_mib),)

    # --- cache ------------------------------------------------------------------------------------------
    def _fresh(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> _ClassScores:
        s = snap.state
        if self._names is not s.names:
            self._names, self._classes = s.names, {}
        table = self._class_table(snap)
        key = pod.task_class()
        entry = self._classes.get(key)
        if entry is None:
            entry = _ClassScores(
                np.zeros(s.size), np.full(s.size, -1, np.int64), np.full(s.size, -1, np.int64)
            )
            self._classes[key] = entry
        stale = nodes[entry.stamp[nodes] != s.version[nodes]]
        if len(stale):
            score, gpu = self._compute(state, pod, snap, stale, table)
            entry.score[stale], entry.gpu[stale], entry.stamp[stale] = score, gpu, s.version[stale]
        return entry

    def _class_table(self, snap: Snapshot) -> ClassTable:
        key = (id(snap.catalog), len(snap.catalog.models))
        if self._table is None or key != self._table_key:
            self._table, self._table_key = ClassTable.build(self._workload, snap.catalog), key
        return self._table

    # --- the gradient -----------------------------------------------------------------------------------
    # Fragmentation is summed exactly as integers (class weights, not probabilities): a node's value then
    # does not depend on how it was batched, and the scalar path below agrees with the array path exactly.
    def _compute(
        self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes, table: ClassTable
    ) -> tuple[NDArray[np.float64], I64]:
        if len(rows) <= SCALAR_ROWS:
            return self._compute_scalar(state, pod, snap, rows, table)
        s = snap.state
        usable = self._usable(state, pod, snap, rows)
        gpu_free = s.dev_milli_free[rows]
        model = s.dev_model[rows, 0].astype(np.int64)
        mem = s.mem_free[rows] if self._memory else np.zeros(len(rows), dtype=np.int64)
        inverse: I64 | None = None
        if len(rows) > DEDUP_ABOVE:
            # Identical node states score identically: on a cold cache compute each distinct state once.
            packed = np.column_stack([gpu_free, s.cpu_free[rows], model, mem, usable])
            uniq, inverse = _unique_rows(packed)
            width = gpu_free.shape[1]
            u_free, u_cpu, u_model, u_mem = (
                uniq[:, :width],
                uniq[:, width],
                uniq[:, width + 1],
                uniq[:, width + 2],
            )
            u_usable = uniq[:, width + 3 :].astype(np.bool_)
        else:
            u_free, u_cpu, u_model, u_mem, u_usable = gpu_free, s.cpu_free[rows], model, mem, usable
        cpu_after = u_cpu - pod.cpu_milli
        mem_after = u_mem - (pod.memory_mib if self._memory else 0)
        req = pod.devices
        gpu = np.full(len(u_free), -1, dtype=np.int64)
        if req is not None and req.kind is DeviceKind.FRACTION:
            score, gpu = self._share_scores(u_free, u_cpu, u_mem, u_model, u_usable, req.milli, pod, table)
        else:
            after_free = u_free
            if req is not None and req.kind is DeviceKind.WHOLE:
                take = u_usable & (np.cumsum(u_usable, axis=1) <= req.count)
                after_free = np.where(take, 0, u_free)
            # Before and after in one call: the per-call overhead dominates on the few stale nodes.
            frag = weighted_fragmentation(
                np.concatenate([u_free, after_free]),
                np.concatenate([u_cpu, cpu_after]),
                np.concatenate([u_model, u_model]),
                table,
                np.concatenate([u_mem, mem_after]),
            )
            k = len(u_free)
            score = self._scale((frag[:k] - frag[k:]) / self._total(table))
        if inverse is None:
            return score, gpu
        return score[inverse], gpu[inverse]

    def _compute_scalar(
        self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes, table: ClassTable
    ) -> tuple[NDArray[np.float64], I64]:
        """:meth:`_compute` for a few nodes, one node state at a time through the memo (same results)."""
        s = snap.state
        memo = self._state_memo(table)
        req = pod.devices
        total = self._total(table)
        share = req is not None and req.kind is DeviceKind.FRACTION
        whole = req.count if req is not None and req.kind is DeviceKind.WHOLE else 0
        milli = req.milli if req is not None else 0
        cpu_take = pod.cpu_milli
        mem_take = pod.memory_mib if self._memory else 0
        frees = s.dev_milli_free[rows].tolist()
        cpus = s.cpu_free[rows].tolist()
        models = s.dev_model[rows, 0].tolist()
        mems = s.mem_free[rows].tolist() if self._memory else [0] * len(rows)
        uses = self._usable(state, pod, snap, rows).tolist() if (share or whole) else None
        scores: list[float] = []
        gpus: list[int] = []
        for i, (free, cpu, model, mem) in enumerate(zip(frees, cpus, models, mems, strict=True)):
            before = memo.value(model, cpu, mem, free)
            if share:
                assert uses is not None
                best, best_gpu, best_gap = -np.inf, -1, 0
                seen: dict[int, float] = {}  # GPUs with equal free milli leave equal node states
                for j, ok in enumerate(uses[i]):
                    if not ok:
                        continue
                    known = seen.get(free[j])
                    if known is None:
                        after = free.copy()
                        after[j] -= milli
                        delta = before - memo.value(model, cpu - cpu_take, mem - mem_take, after)
                        known = seen[free[j]] = self._scale_one(delta, total, self._share_scale)
                    value = known
                    gap = free[j] - milli
                    if value > best or (self._tight and value == best and gap < best_gap):
                        best, best_gpu, best_gap = value, j, gap
                scores.append(best)
                gpus.append(best_gpu)
                continue
            after = free
            if whole:
                assert uses is not None
                after = free.copy()
                taken = 0
                for j, ok in enumerate(uses[i]):
                    if ok and taken < whole:
                        after[j] = 0
                        taken += 1
            delta = before - memo.value(model, cpu - cpu_take, mem - mem_take, after)
            scores.append(self._scale_one(delta, total, self._scale_milli))
            gpus.append(-1)
        return np.array(scores, dtype=np.float64), np.array(gpus, dtype=np.int64)

    def _share_scores(
        self,
        free: I64,
        cpu: I64,
        mem: I64,
        model: I64,
        usable: NDArray[np.bool_],
        milli: int,
        pod: PodRequest,
        table: ClassTable,
    ) -> tuple[NDArray[np.float64], I64]:
        k, width = free.shape
        cand_row, cand_gpu = np.nonzero(usable)
        after = free[cand_row].copy()
        after[np.arange(len(cand_row)), cand_gpu] -= milli
        frag = weighted_fragmentation(
            np.concatenate([free, after]),
            np.concatenate([cpu, cpu[cand_row] - pod.cpu_milli]),
            np.concatenate([model, model[cand_row]]),
            table,
            np.concatenate([mem, mem[cand_row] - (pod.memory_mib if self._memory else 0)]),
        )
        before, frag = frag[:k], frag[k:]
        grid = np.full((k, width), -np.inf)
        grid[cand_row, cand_gpu] = self._scale(
            (before[cand_row] - frag) / self._total(table), self._share_scale
        )
        if self._tight:
            # Among the GPUs with the best score, the one the share fills most exactly.
            gap = np.where(np.isfinite(grid), free - milli, 0)
            best = np.where(grid == grid.max(axis=1, keepdims=True), -gap, -np.inf).argmax(axis=1)
        else:
            best = grid.argmax(axis=1)  # the lowest GPU index among equal scores, as published
        return grid[np.arange(k), best], np.where(np.isfinite(grid.max(axis=1)), best, -1)

    def _scale(self, delta: NDArray[np.float64], scale: float | None = None) -> NDArray[np.float64]:
        if not self._quantise:
            return delta
        return np.trunc(100.0 / (1.0 + np.exp(-delta / (scale or self._scale_milli))))

    def _scale_one(self, delta: int, total: int, scale: float) -> float:
        """:meth:`_scale` of one integer gradient, through the same numpy arithmetic, remembered."""
        key = (delta, scale)
        hit = self._scaled.get(key)
        if hit is None:
            if len(self._scaled) >= StateFragmentation.LIMIT:
                self._scaled.clear()
            hit = self._scaled[key] = float(self._scale(np.array([delta / total]), scale)[0])
        return hit

    def _state_memo(self, table: ClassTable) -> StateFragmentation:
        if self._memo is None or self._memo_table is not table:
            self._memo, self._memo_table, self._scaled = StateFragmentation(table, self._memory), table, {}
        return self._memo

    @staticmethod
    def _total(table: ClassTable) -> int:
        return max(int(table.weight.sum()), 1)

    @staticmethod
    def _usable(state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes) -> NDArray[np.bool_]:
        return usable_rows(state, pod, snap, rows)


_HASH = np.random.default_rng(0x5EED).integers(1, 2**62, size=64, dtype=np.int64) | 1


def _unique_rows(rows: I64) -> tuple[I64, I64]:
    """``np.unique(rows, axis=0, return_inverse=True)`` without its slow row sort: rows are hashed to one
    int64 each (wrapping multiply-add), unique on the hashes, and checked; a collision falls back."""
    width = rows.shape[1]
    mult = _HASH[:width] if width <= len(_HASH) else None
    if mult is not None:
        with np.errstate(over="ignore"):
            keys = rows @ mult
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        uniq = rows[first]
        if np.array_equal(uniq[inverse.reshape(-1)], rows):
            return uniq, inverse.reshape(-1)
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


def make_fgd(args: Mapping[str, Any], ctx: PluginContext) -> FragmentationGradient:
    memory = bool(args.get("memory", False))
    workload = Workload.from_pods(
        ctx.workload,
        float(args.get("coverage", 0.95)),
        with_memory=memory,
        by_demand=args.get("weighting", "count") == "demand",
    )
    return FragmentationGradient(
        workload,
        quantise=bool(args.get("quantise", True)),
        memory=memory,
        name="fgd",
        scale=float(args.get("scale", 1000.0)),
        share_scale=float(args["share_scale"]) if "share_scale" in args else None,
        tight_gpu=args.get("gpu", "index") == "tight",
        shares=bool(args.get("shares", True)),
    )


_s: ScorePlugin = FragmentationGradient(Workload((), np.zeros(0)), quantise=True)
_d: DeviceSelectPlugin = FragmentationGradient(Workload((), np.zeros(0)), quantise=True)
