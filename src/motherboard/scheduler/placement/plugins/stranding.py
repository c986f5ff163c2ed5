"""Stranding: place where the accelerator share that CPU or memory would leave unusable grows least.

A node whose CPU or memory runs out before its GPUs do strands those GPUs: no pod can use them, however
well they are packed. With ``a`` the GPU milli the workload's device pods ask per milli-CPU (their total GPU
request over their total CPU request) and ``b`` the same per MiB of memory, a node with ``G`` free GPU
milli, ``C`` free CPU milli and ``M`` free MiB has about

    S = max(0, G − a·C, G − b·M)

milli-GPU that the CPU or memory left cannot feed. The score is the decrease of ``S`` (in milli-GPU) when
the pod lands on the node: a CPU-heavy share on a CPU-poor 2-GPU node, or a CPU-only pod on an 8-GPU node
that needs its cores, scores low; the same pod on a node with cores to spare scores 0.

Measured on the Alibaba trace (docs/benchmarks-packing.md) this is the largest single gain over FGD: CPU
and memory exhaustion, not GPU slivers, was what the last free GPUs were lost to once shares were paired
well. Argument (profile ``pluginArgs.stranding``): ``memory`` (count memory too, default true). With no
device pods in the workload the ratios are 0 and every score is 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import PodRequest
from motherboard.scheduler.placement.framework import (
    CycleState,
    Nodes,
    PluginContext,
    ScorePlugin,
    Scores,
    shape_key,
)

F64 = NDArray[np.float64]


def demand_ratios(workload: Sequence[PodRequest]) -> tuple[float, float]:
    """``(a, b)``: GPU milli asked per milli-CPU and per MiB of memory by the workload's device pods."""
    device_pods = [p for p in workload if p.devices is not None and p.gpu_milli > 0]
    gpu = sum(p.gpu_milli for p in device_pods)
    cpu = sum(p.cpu_milli for p in device_pods)
    mem = sum(p.memory_mib for p in device_pods)
    return (gpu / cpu if cpu else 0.0), (gpu / mem if mem else 0.0)


class Stranding:
    """Scores ``S_before − S_after`` (milli-GPU kept feedable by the node's CPU and memory)."""

    name = "stranding"

    def __init__(self, per_cpu: float, per_mem: float, memory: bool = True) -> None:
        self._a = per_cpu
        self._b = per_mem if memory else 0.0

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def stranded(self, gpu: F64, cpu: F64, mem: F64) -> F64:
        """``S`` for nodes with these free GPU milli, CPU milli and MiB."""
        if self._a <= 0:
            return np.zeros(len(gpu))
        out: F64 = np.maximum(0.0, gpu - self._a * cpu)
        if self._b > 0:
            out = np.maximum(out, gpu - self._b * mem)
        return out

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        s = snap.state
        gpu = s.dev_milli_free[nodes].sum(axis=1).astype(np.float64)
        cpu = s.cpu_free[nodes].astype(np.float64)
        mem = s.mem_free[nodes].astype(np.float64)
        before = self.stranded(gpu, cpu, mem)
        after = self.stranded(gpu - pod.gpu_milli, cpu - pod.cpu_milli, mem - pod.memory_mib)
        out: Scores = before - after
        return out


def make(args: Mapping[str, Any], ctx: PluginContext) -> Stranding:
    per_cpu, per_mem = demand_ratios(ctx.workload)
    return Stranding(per_cpu, per_mem, bool(args.get("memory", True)))


_: ScorePlugin = Stranding(0.0, 0.0)
