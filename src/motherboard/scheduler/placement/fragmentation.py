"""The fragmentation measure of "Beware of Fragmentation" (Weng et al., ATC '23), vectorised.

A node's idle GPU compute is *fragmented for a task class* when a task of that class could not use it:
all of it when the task does not fit the node at all (too little CPU, too few GPUs with enough room, a
GPU model it may not run on; CPU-only classes count the idle GPUs too, since they never use them), and
otherwise the GPUs whose free share is smaller than the task's per-GPU request. The node's fragmentation
``F`` is the expectation over the recent workload's task classes, weighted by how common each class is.
Placement that minimises the growth of ``F`` (the fragmentation gradient) keeps GPUs usable for what
actually arrives.

This module is shared numeric code, not a plugin: the ``fgd`` and ``motherboard`` scorers and the
simulator's fragmentation report all use it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.state import Catalog
from motherboard.scheduler.cache.types import PodRequest

F64 = NDArray[np.float64]
ClassKey = tuple[int, int, int, tuple[str, ...], int]
"""(CPU milli, per-GPU milli, GPU count, allowed models, memory MiB): the shape the measure cares about.
Memory is 0 unless the measure is memory-aware (the published one is not)."""


def class_key(pod: PodRequest, with_memory: bool = False) -> ClassKey:
    mem = pod.memory_mib if with_memory else 0
    d = pod.devices
    if d is None:
        return (pod.cpu_milli, 0, 0, (), mem)
    return (pod.cpu_milli, d.milli, d.count, d.models, mem)


@dataclass(frozen=True)
class Workload:
    """Task classes of the recent workload and their popularity (probabilities summing to 1)."""

    keys: tuple[ClassKey, ...]
    prob: F64
    weight: NDArray[np.int64] | None = None
    """Integer class weights (pod counts, or GPU demand) that ``prob`` normalises; exact arithmetic uses
    them, so that equal fragmentation compares equal whatever the order of the sums."""

    @classmethod
    def from_pods(
        cls,
        pods: Iterable[PodRequest],
        coverage: float = 0.95,
        with_memory: bool = False,
        by_demand: bool = False,
    ) -> Workload:
        """The most common classes that together cover ``coverage`` of the pods, renormalised.

        Rare classes are dropped as the published implementation does (popularity threshold 95 %, one
        class at a time); ties in count are ordered by the larger resource shape first. ``with_memory``
        makes memory part of the class, so a node whose memory is gone counts its idle GPUs as fragmented.
        ``by_demand`` weights each kept class by its share of the GPU demand instead of the pod count (a
        class of 8-GPU pods then weighs 8 times a class of 1-GPU pods of the same size).
        """
        counts = Counter(class_key(p, with_memory) for p in pods)
        total = sum(counts.values())
        if total == 0:
            return cls((), np.zeros(0))
        ordered = sorted(counts.items(), key=lambda kv: (kv[1], *kv[0]))[::-1]
        kept: list[tuple[ClassKey, int]] = []
        covered = 0
        for key, count in ordered:
            if covered >= coverage * total:
                break
            kept.append((key, count))
            covered += count
        weight = np.array([c for _, c in kept], dtype=np.int64)
        if by_demand:
            weight *= np.array([k[1] * k[2] for k, _ in kept], dtype=np.int64)
            if weight.sum() == 0:
                return cls((), np.zeros(0))
        return cls(tuple(k for k, _ in kept), weight / weight.sum(), weight)


@dataclass(frozen=True)
class ClassTable:
    """A :class:`Workload` as arrays, with model access resolved against one catalogue."""

    cpu: NDArray[np.int64]
    mem: NDArray[np.int64]
    milli: NDArray[np.int64]
    count: NDArray[np.int64]
    prob: F64
    access: NDArray[np.bool_]
    """``access[c, m + 1]``: class ``c`` may run on model index ``m`` (column 0 is "no GPU")."""
    weight: NDArray[np.int64]
    """Integer weights behind ``prob`` (``prob = weight / weight.sum()``)."""

    @classmethod
    def build(cls, workload: Workload, catalog: Catalog) -> ClassTable:
        n_models = len(catalog.models)
        access = np.zeros((len(workload.keys), n_models + 1), dtype=np.bool_)
        for c, (_, milli, _, models, _) in enumerate(workload.keys):
            if milli == 0:
                continue
            allowed = range(n_models) if not models else [catalog.find(catalog.models, m) for m in models]
            access[c, [m + 1 for m in allowed if m >= 0]] = True
        keys = workload.keys
        weight = workload.weight
        if weight is None:  # a hand-made workload: integer weights on a fine grid
            weight = np.rint(workload.prob * 2**32).astype(np.int64)
        return cls(
            cpu=np.array([k[0] for k in keys], dtype=np.int64),
            mem=np.array([k[4] for k in keys], dtype=np.int64),
            milli=np.array([k[1] for k in keys], dtype=np.int64),
            count=np.array([k[2] for k in keys], dtype=np.int64),
            prob=workload.prob,
            access=access,
            weight=weight,
        )


def fragmented_milli(
    gpu_free: NDArray[np.int64],
    cpu_free: NDArray[np.int64],
    model: NDArray[np.int64],
    table: ClassTable,
    mem_free: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    """``(k, classes)``: the idle GPU milli of each node state that each task class could not use.

    ``gpu_free`` is ``(k, slots)`` free milli per GPU (absent slots 0), ``cpu_free`` ``(k,)``, ``model`` the
    node's GPU model index (-1 without GPUs), ``mem_free`` ``(k,)`` for a memory-aware table. Cost is
    ``k × slots × classes`` element operations.
    """
    total = gpu_free.sum(axis=1)
    ge = gpu_free[:, :, None] >= table.milli[None, None, :]  # (k, slots, classes)
    usable_gpus = ge.sum(axis=1)
    small = np.where(ge, 0, gpu_free[:, :, None]).sum(axis=1)  # idle milli on GPUs too small for the class
    # ``access`` is False for classes without GPUs: they never use the idle GPUs, so all of it counts.
    fits = (
        (cpu_free[:, None] >= table.cpu[None, :])
        & (usable_gpus >= table.count[None, :])
        & table.access[:, model + 1].T
    )
    if mem_free is not None:
        fits &= mem_free[:, None] >= table.mem[None, :]
    out: NDArray[np.int64] = np.where(fits, small, total[:, None])
    return out


def node_fragmentation(
    gpu_free: NDArray[np.int64],
    cpu_free: NDArray[np.int64],
    model: NDArray[np.int64],
    table: ClassTable,
    mem_free: NDArray[np.int64] | None = None,
) -> F64:
    """Expected fragmented GPU milli of each node state (arguments as :func:`fragmented_milli`)."""
    out: F64 = fragmented_milli(gpu_free, cpu_free, model, table, mem_free) @ table.prob
    return out


def weighted_fragmentation(
    gpu_free: NDArray[np.int64],
    cpu_free: NDArray[np.int64],
    model: NDArray[np.int64],
    table: ClassTable,
    mem_free: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    """:func:`node_fragmentation` times ``table.weight.sum()``, exactly, as integers.

    Exact integers make a node's value independent of how it was batched (a float dot product is not), so
    a gradient of zero is exactly zero, and :class:`StateFragmentation` agrees with it to the last digit.
    """
    out: NDArray[np.int64] = fragmented_milli(gpu_free, cpu_free, model, table, mem_free) @ table.weight
    return out


class StateFragmentation:
    """:func:`weighted_fragmentation` of one node state at a time, in plain Python, remembered.

    A placement changes one node, so the per-class score caches recompute one or two node states per
    cycle; numpy's per-call overhead dwarfs that work. Here a state is a key (GPU model, free CPU, free
    memory, sorted free GPU milli: the measure does not depend on the GPUs' order) into a memo, and a miss
    costs one pass over the classes. Identical node states recur constantly (nodes of one type filled by
    the same common pods), so most lookups hit.
    """

    LIMIT = 1 << 20
    """Memo entries kept before it is cleared."""

    def __init__(self, table: ClassTable, memory: bool = False) -> None:
        self._memory = memory
        self._total_weight = int(table.weight.sum())
        millis = sorted({int(m) for m in table.milli.tolist() if m > 0})
        self._millis = millis
        slot = {m: i for i, m in enumerate(millis)}
        # CPU and memory enter only through "at least the class's request": a state's key holds how many of
        # the classes' distinct requests it meets, not the raw amount, so many more states share a key.
        self._cpu_steps = sorted({int(c) for c in table.cpu.tolist()})
        self._mem_steps = sorted({int(m) for m in table.mem.tolist()}) if memory else [0]
        # Per model column: the classes that may use that model, as (CPU step, memory step, milli slot,
        # GPU count, weight), ordered by CPU step so that a pass stops at the first class needing more.
        # Classes without GPUs or without access never fit: their weight always counts the whole idle GPU.
        self._by_model: list[list[tuple[int, int, int, int, int]]] = []
        for column in range(table.access.shape[1]):
            rows = [
                (
                    bisect_left(self._cpu_steps, int(cpu)),
                    bisect_left(self._mem_steps, int(mem)) if memory else 0,
                    slot[int(milli)],
                    int(count),
                    int(weight),
                )
                for cpu, mem, milli, count, access, weight in zip(
                    table.cpu.tolist(),
                    table.mem.tolist(),
                    table.milli.tolist(),
                    table.count.tolist(),
                    table.access[:, column].tolist(),
                    table.weight.tolist(),
                    strict=True,
                )
                if milli > 0 and access
            ]
            self._by_model.append(sorted(rows))
        self._memo: dict[tuple[int, ...], int] = {}

    def value(self, model: int, cpu: int, mem: int, free: list[int]) -> int:
        """Weighted fragmented milli of a node with GPU model ``model`` and these free resources."""
        cpu_step = bisect_right(self._cpu_steps, cpu)
        mem_step = bisect_right(self._mem_steps, mem) if self._memory else 1
        key = (model, cpu_step, mem_step, *sorted(free))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if len(self._memo) >= self.LIMIT:
            self._memo.clear()
        gpus = key[3:]
        prefix = [0]
        for g in gpus:
            prefix.append(prefix[-1] + g)
        total = prefix[-1]
        width = len(gpus)
        small: list[int] = []
        usable: list[int] = []
        for m in self._millis:
            i = bisect_left(gpus, m)
            small.append(prefix[i])
            usable.append(width - i)
        # Every class counts the whole idle GPU, less what the classes that fit could use.
        out = self._total_weight * total
        for c_cpu, c_mem, m, count, weight in self._by_model[model + 1]:
            if c_cpu >= cpu_step:
                break  # this class and every later one needs more CPU than the node has
            if usable[m] >= count and c_mem < mem_step:
                out -= weight * (total - small[m])
        self._memo[key] = out
        return out


def cluster_fragmentation(
    gpu_free: NDArray[np.int64], cpu_free: NDArray[np.int64], model: NDArray[np.int64], table: ClassTable
) -> float:
    """Sum of :func:`node_fragmentation` over nodes, in milli-GPU."""
    return float(node_fragmentation(gpu_free, cpu_free, model, table).sum())
