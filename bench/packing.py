"""Packing benchmark: the 10-seed policy comparison on the default trace, and placement speed.

    .venv/bin/python bench/packing.py [--seeds 42-51] [--policies all] [--workers 2] [--out bench-out]

Prints the comparison (mean ± std over seeds, next to the published figures) and the speed of one full
130 % replay (pods/s, time per decision) at 1,213 nodes and at 10,000 nodes (the node list repeated; the
arrivals are inflated to 130 % of the larger cluster, about 89,000 of them; ``--speed-cap`` shortens it).

    .venv/bin/python bench/packing.py --families [--seeds 42-51] [--family cpu,share] [--out bench-out]

runs every workload-mix family at each of its levels (``simulate/mix.py``: the default list varied as the
FGD authors varied theirs) for motherboard, fgd and bestfit, and prints one Markdown table: allocation at
100/110/120/130 % arrived demand, mean ± std over the seeds, and motherboard − fgd paired per seed (mean,
lowest). Results also go to ``OUT/families.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from motherboard.scheduler.cache import ClusterCache
from motherboard.scheduler.placement import PluginContext
from motherboard.scheduler.placement.placer import Placer
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.simulate.cli import DEFAULT_NODES, DEFAULT_TRACE
from motherboard.scheduler.simulate.convert import node_spec, pod_request
from motherboard.scheduler.simulate.mix import LEVELS
from motherboard.scheduler.simulate.packing import REPORT_LEVELS, PackingResult, inflate
from motherboard.scheduler.simulate.policies import parse_policies, parse_seeds, policy_profile
from motherboard.scheduler.simulate.results import summarise, write_outputs
from motherboard.scheduler.simulate.sweep import Task, run_sweep
from motherboard.scheduler.simulate.trace import load_nodes, load_pods


def speed(policy: str, size: int, arrivals_cap: int | None) -> tuple[int, float, float]:
    """(decisions, CPU seconds, wall seconds) of placing the inflated arrivals on ``size`` nodes."""
    base = [node_spec(n) for n in load_nodes(DEFAULT_NODES)]
    nodes = [
        replace(base[i % len(base)], name=f"{base[i % len(base)].name}-{i // len(base)}") for i in range(size)
    ]
    pods = [pod_request(p) for p in load_pods(DEFAULT_TRACE)]
    rng = np.random.default_rng(42)
    cache = ClusterCache(nodes, tie_rank=rng.permutation(size).astype(np.int64))
    capacity = int(cache.snapshot().state.dev_count.sum()) * 1000
    arrivals = inflate(pods, capacity, 1.3, rng)[:arrivals_cap]
    placer = Placer(policy_profile(policy), default_registry(), PluginContext(seed=42, workload=tuple(pods)))
    cpu, wall = time.process_time(), time.perf_counter()
    for pod in arrivals:
        out = placer.place(pod, cache.snapshot())
        if out.placement is not None:
            cache.assume(out.placement)
    return len(arrivals), time.process_time() - cpu, time.perf_counter() - wall


def families(args: argparse.Namespace) -> None:
    """The family × level table (see the module docstring)."""
    policies = ("motherboard", "fgd", "bestfit")
    seeds = parse_seeds(args.seeds)
    wanted = args.family.split(",") if args.family else list(LEVELS)
    mixes: list[str | None] = [None] + [f"{f}={lv:g}" for f in wanted for lv in LEVELS[f]]
    tasks = [
        Task(args.trace, DEFAULT_NODES, p, s, 1.3, None, m) for m in mixes for s in seeds for p in policies
    ]
    started = time.perf_counter()
    results = run_sweep(tasks, workers=args.workers)
    wall = time.perf_counter() - started
    by: dict[tuple[str | None, str, int], PackingResult] = {(r.mix, r.policy, r.seed): r for r in results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "families.json").write_text(
        json.dumps(
            [{"mix": r.mix, "policy": r.policy, "seed": r.seed, **r.to_json()} for r in results], indent=1
        )
    )
    print(f"{len(tasks)} runs, {wall:.0f} s wall, {args.workers} workers, seeds {args.seeds}")
    print(
        "| mix | policy | @100 % | @110 % | @120 % | @130 % | mb − fgd @130 (paired mean, lowest) | mb − fgd @100 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for m in mixes:
        for p in policies:
            runs = [by[(m, p, s)] for s in seeds]
            cells = []
            for lv in REPORT_LEVELS:
                vals = [r.at(lv) for r in runs]
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                cells.append(f"{statistics.fmean(vals):.2f} ± {sd:.2f}")
            diff = ""
            if p == "motherboard":
                d130 = [by[(m, p, s)].at(130) - by[(m, "fgd", s)].at(130) for s in seeds]
                d100 = [by[(m, p, s)].at(100) - by[(m, "fgd", s)].at(100) for s in seeds]
                diff = f"**{statistics.fmean(d130):+.2f}** ({min(d130):+.2f}) | {statistics.fmean(d100):+.2f}"
            else:
                diff = " | "
            print(f"| {m or 'default'} | {p} | {' | '.join(cells)} | {diff} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="42-51")
    ap.add_argument("--policies", default="all")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--speed-policies", default="fgd,motherboard,bestfit")
    ap.add_argument("--speed-sizes", default="1213,10000", help="node counts for the speed runs")
    ap.add_argument(
        "--speed-cap", type=int, default=0, help="arrivals per speed run at >1,213 nodes (0: all)"
    )
    ap.add_argument("--families", action="store_true", help="the workload-mix family table only")
    ap.add_argument(
        "--family", default="", help="with --families: only these families (cpu,share,spec,multi)"
    )
    args = ap.parse_args()
    if args.families:
        families(args)
        return
    if not args.skip_quality:
        tasks = [
            Task(args.trace, DEFAULT_NODES, p, s, 1.3)
            for p in parse_policies(args.policies)
            for s in parse_seeds(args.seeds)
        ]
        results = run_sweep(tasks, workers=args.workers)
        write_outputs(results, args.out, {"trace": str(args.trace), "seeds": args.seeds})
        for policy, row in summarise(results).items():
            print(
                f"{policy:12s} {row['mean']:6.2f} ± {row['std']:.2f}"
                f"  (published {row.get('published', '-') if args.trace.name == DEFAULT_TRACE.name else 'n/a'})"
                f"  cpu {row['cpu_seconds']:.2f} s/run"
            )
    if args.skip_speed:
        return
    for policy in args.speed_policies.split(","):
        for size in (int(x) for x in args.speed_sizes.split(",")):
            cap = args.speed_cap if args.speed_cap and size > 1213 else None
            n, cpu, wall = speed(policy, size, cap)
            print(
                f"speed {policy:12s} {size:6d} nodes: {n} decisions, {cpu:.2f} s CPU ({wall:.2f} s wall), "
                f"{n / cpu:.0f} pods/s, {1000 * cpu / n:.3f} ms/decision"
            )


if __name__ == "__main__":
    main()
