"""The offline optimum of a packing instance, to measure how far an online policy is from it.

Given the nodes and the whole arrival sequence, choose which pods to run and where, so that the allocated
GPU compute is as large as possible: each GPU holds shares summing to at most 1000 milli or one whole-GPU
pod, each node's CPU and memory hold, a pod runs at most once, and GPU-model constraints are kept. Pods
without GPUs are left out (dropping one never lowers the GPU allocation). The online protocol places in
arrival order without retry; the optimum sees everything at once, so it bounds every policy from above.

The exact solver is OR-Tools CP-SAT (the optional ``solver`` extra). :func:`brute_force` enumerates tiny
instances without it (for tests and sanity checks).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from motherboard.scheduler.cache.types import WHOLE_MILLI, NodeSpec, PodRequest


class SolverMissingError(RuntimeError):
    """The exact solver needs OR-Tools, which is not installed."""


@dataclass(frozen=True)
class Optimum:
    """The best allocation found, the proven upper bound, and whether it is proven optimal."""

    allocated_milli: int
    bound_milli: int
    optimal: bool
    seconds: float


def _model_ok(pod: PodRequest, node: NodeSpec) -> bool:
    d = pod.devices
    if d is None or not d.models:
        return True
    return all(dev.model in d.models for dev in node.inventory.devices)


def solve(
    nodes: Sequence[NodeSpec], pods: Sequence[PodRequest], time_limit: float = 30.0, workers: int = 1
) -> Optimum:
    """The maximum GPU allocation (milli) of ``pods`` on ``nodes`` with CP-SAT."""
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        raise SolverMissingError(
            "the optimality gap needs OR-Tools: install the extra with `pip install 'motherboard[solver]'`"
        ) from None
    model: Any = cp_model.CpModel()
    gpu_pods = [p for p in pods if p.devices is not None]
    share_load: dict[tuple[int, int], list[Any]] = {}
    whole_count: dict[int, list[Any]] = {}
    cpu_load: dict[int, list[Any]] = {}
    mem_load: dict[int, list[Any]] = {}
    objective: list[Any] = []
    for i, pod in enumerate(gpu_pods):
        req = pod.devices
        assert req is not None
        chosen = []
        for n, node in enumerate(nodes):
            gpus = len(node.inventory.devices)
            if gpus < req.count or not _model_ok(pod, node):
                continue
            if pod.cpu_milli > node.cpu_milli or pod.memory_mib > node.memory_mib:
                continue
            if req.milli < WHOLE_MILLI:
                # A share goes on one GPU: one variable per GPU of the node.
                per_gpu = [model.NewBoolVar(f"p{i}n{n}g{g}") for g in range(gpus)]
                for g, var in enumerate(per_gpu):
                    share_load.setdefault((n, g), []).append(req.milli * var)
                chosen.extend(per_gpu)
                cpu_load.setdefault(n, []).extend(pod.cpu_milli * v for v in per_gpu)
                mem_load.setdefault(n, []).extend(pod.memory_mib * v for v in per_gpu)
                objective.extend(req.milli * v for v in per_gpu)
                continue
            # Whole GPUs are interchangeable on a node: count them, do not name them.
            on_node = model.NewBoolVar(f"p{i}n{n}")
            whole_count.setdefault(n, []).append(req.count * on_node)
            cpu_load.setdefault(n, []).append(pod.cpu_milli * on_node)
            mem_load.setdefault(n, []).append(pod.memory_mib * on_node)
            objective.append(req.total_milli * on_node)
            chosen.append(on_node)
        if chosen:
            model.AddAtMostOne(chosen)
    for n, node in enumerate(nodes):
        gpus = len(node.inventory.devices)
        if not gpus:
            continue
        # The GPUs given whole are the first ones (symmetry broken); shares fill the rest.
        whole = [model.NewBoolVar(f"n{n}w{g}") for g in range(gpus)]
        for a, b in itertools.pairwise(whole):
            model.AddImplication(b, a)
        model.Add(sum(whole) == sum(whole_count.get(n, [])))
        for g in range(gpus):
            terms = share_load.get((n, g))
            if terms:
                model.Add(sum(terms) <= WHOLE_MILLI - WHOLE_MILLI * whole[g])
    for n, terms in cpu_load.items():
        model.Add(sum(terms) <= nodes[n].cpu_milli)
    for n, terms in mem_load.items():
        model.Add(sum(terms) <= nodes[n].memory_mib)
    model.Maximize(sum(objective))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Optimum(0, int(sum(p.gpu_milli for p in gpu_pods)), False, solver.WallTime())
    return Optimum(
        round(solver.ObjectiveValue()),
        round(solver.BestObjectiveBound()),
        status == cp_model.OPTIMAL,
        solver.WallTime(),
    )


def brute_force(nodes: Sequence[NodeSpec], pods: Sequence[PodRequest]) -> int:
    """The maximum GPU allocation by enumerating every placement (tiny instances only: GPUs ** pods)."""
    gpu_pods = [p for p in pods if p.devices is not None]
    slots = [(n, g) for n, node in enumerate(nodes) for g in range(len(node.inventory.devices))]
    # A pod's choice: None (not run) or, for whole GPUs, a set of GPUs on one node; for a share, one GPU.
    options: list[list[tuple[tuple[int, int], ...] | None]] = []
    for pod in gpu_pods:
        req = pod.devices
        assert req is not None
        opts: list[tuple[tuple[int, int], ...] | None] = [None]
        for n, node in enumerate(nodes):
            if not _model_ok(pod, node):
                continue
            mine = [s for s in slots if s[0] == n]
            opts.extend(itertools.combinations(mine, req.count))
        options.append(opts)
    best = 0
    for combo in itertools.product(*options):
        load: dict[tuple[int, int], int] = {}
        cpu: dict[int, int] = {}
        mem: dict[int, int] = {}
        total = 0
        for pod, choice in zip(gpu_pods, combo, strict=True):
            if choice is None:
                continue
            req = pod.devices
            assert req is not None
            for s in choice:
                load[s] = load.get(s, 0) + (req.milli if req.milli < WHOLE_MILLI else WHOLE_MILLI)
            n = choice[0][0]
            cpu[n] = cpu.get(n, 0) + pod.cpu_milli
            mem[n] = mem.get(n, 0) + pod.memory_mib
            total += req.total_milli
        if total <= best:
            continue
        if all(v <= WHOLE_MILLI for v in load.values()) and all(
            cpu[n] <= nodes[n].cpu_milli and mem[n] <= nodes[n].memory_mib for n in cpu
        ):
            best = total
    return best
