"""Optimality gap: online policies against the exact offline optimum on small random instances.

    .venv/bin/python bench/solver_gap.py [--instances 10] [--max-nodes 20] [--time-limit 20]

Each instance samples up to ``--max-nodes`` nodes of the default cluster and draws pods uniformly from the
default trace until the next would push the GPU request past 130 % of the instance's GPU capacity. Every
policy replays that same arrival sequence under the published protocol (no retry); OR-Tools CP-SAT
(``pip install 'motherboard[solver]'``) finds the best allocation with the whole sequence known in advance.
Prints per policy the mean allocation and its gap to the optimum (or to CP-SAT's proven bound when the
time limit stops it first).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace

import numpy as np

from motherboard.scheduler.cache.types import PodRequest
from motherboard.scheduler.simulate.cli import DEFAULT_NODES, DEFAULT_TRACE
from motherboard.scheduler.simulate.convert import node_spec, pod_request
from motherboard.scheduler.simulate.optimal import SolverMissingError, solve
from motherboard.scheduler.simulate.packing import run_packing
from motherboard.scheduler.simulate.trace import load_nodes, load_pods

POLICIES = ("random", "dotprod", "packing", "bestfit", "fgd", "motherboard")


def draw(pods: list[PodRequest], capacity: int, ratio: float, rng: np.random.Generator) -> list[PodRequest]:
    out: list[PodRequest] = []
    total = 0
    while True:
        pick = pods[int(rng.integers(len(pods)))]
        if total + pick.gpu_milli > ratio * capacity:
            return out
        out.append(replace(pick, name=f"{pick.name}-{len(out)}"))
        total += pick.gpu_milli


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--min-nodes", type=int, default=8)
    ap.add_argument("--max-nodes", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    all_nodes = [node_spec(n) for n in load_nodes(DEFAULT_NODES)]
    pods = [pod_request(p) for p in load_pods(DEFAULT_TRACE)]
    rng = np.random.default_rng(args.seed)
    alloc: dict[str, list[float]] = {p: [] for p in (*POLICIES, "optimum", "bound")}
    proven = 0
    for i in range(args.instances):
        size = int(rng.integers(args.min_nodes, args.max_nodes + 1))
        nodes = [all_nodes[j] for j in rng.choice(len(all_nodes), size, replace=False)]
        capacity = sum(len(n.inventory.devices) for n in nodes) * 1000
        arrivals = draw(pods, capacity, 1.3, rng)
        row = []
        for policy in POLICIES:
            r = run_packing(nodes, pods, policy, args.seed + i, arrivals=arrivals)
            alloc[policy].append(r.allocation_ratio)
            row.append(f"{policy} {r.allocation_ratio:6.2f}")
        try:
            opt = solve(nodes, arrivals, time_limit=args.time_limit)
        except SolverMissingError as exc:
            sys.exit(str(exc))
        proven += opt.optimal
        # CP-SAT may stop before any solution on a busy machine: the best policy is then the incumbent.
        best_policy = max(alloc[p][-1] for p in POLICIES)
        alloc["optimum"].append(max(100.0 * opt.allocated_milli / capacity, best_policy))
        alloc["bound"].append(min(100.0 * opt.bound_milli / capacity, 100.0))
        print(
            f"instance {i}: {size} nodes, {capacity // 1000} GPUs, {len(arrivals)} pods | {' | '.join(row)}"
            f" | optimum {alloc['optimum'][-1]:6.2f}{'' if opt.optimal else ' (bound ' + format(alloc['bound'][-1], '.2f') + ')'}"
            f" in {opt.seconds:.1f} s",
            flush=True,
        )
    opt_mean = statistics.fmean(alloc["optimum"])
    print(f"\n{proven}/{args.instances} instances solved to proven optimality")
    print(f"{'policy':12s} {'alloc %':>8s} {'gap to optimum (points)':>24s} {'gap to bound':>13s}")
    for policy in POLICIES:
        vals = alloc[policy]
        gap = [o - v for o, v in zip(alloc["optimum"], vals, strict=True)]
        gap_b = [b - v for b, v in zip(alloc["bound"], vals, strict=True)]
        print(
            f"{policy:12s} {statistics.fmean(vals):8.2f} {statistics.fmean(gap):12.2f} ± {statistics.stdev(gap):.2f}"
            f"{'':6s}{statistics.fmean(gap_b):8.2f}"
        )
    print(f"{'optimum':12s} {opt_mean:8.2f}")


if __name__ == "__main__":
    main()
