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
        weight = np.array([c for _, c in kept], dtype=np.float64)
        if by_demand:
            weight *= np.array([k[1] * k[2] for k, _ in kept], dtype=np.float64)
            if weight.sum() == 0:
                return cls((), np.zeros(0))
        return cls(tuple(k for k, _ in kept), weight / weight.sum())


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
        return cls(
            cpu=np.array([k[0] for k in keys], dtype=np.int64),
            mem=np.array([k[4] for k in keys], dtype=np.int64),
            milli=np.array([k[1] for k in keys], dtype=np.int64),
            count=np.array([k[2] for k in keys], dtype=np.int64),
            prob=workload.prob,
            access=access,
        )


def node_fragmentation(
    gpu_free: NDArray[np.int64],
    cpu_free: NDArray[np.int64],
    model: NDArray[np.int64],
    table: ClassTable,
    mem_free: NDArray[np.int64] | None = None,
) -> F64:
    """Expected fragmented GPU milli of each node state.

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
    frag = np.where(fits, small, total[:, None])
    return frag @ table.prob  # type: ignore[no-any-return]


def cluster_fragmentation(
    gpu_free: NDArray[np.int64], cpu_free: NDArray[np.int64], model: NDArray[np.int64], table: ClassTable
) -> float:
    """Sum of :func:`node_fragmentation` over nodes, in milli-GPU."""
    return float(node_fragmentation(gpu_free, cpu_free, model, table).sum())
