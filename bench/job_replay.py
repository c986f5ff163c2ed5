"""Job replay benchmark (issue 19): job completion times of the queueing policies, and replay speed.

    .venv/bin/python bench/job_replay.py [--jobs 13000] [--seed 42] [--load 0.9] [--policies all]
                                         [--speed 80000] [--workers 5] [--out bench-out/job-replay]

A seeded synthetic trace (``motherboard job-trace synthetic``: 1–128 GPU gangs of whole 8-GPU nodes,
log-normal durations with a 300 s median, four tenants with bursts) offered at ``--load`` of a 512-GPU
cluster (64 nodes of 8 A100s; 13,000 jobs span about a week) is replayed through the real scheduling
cycle under each policy, one process per policy. Printed: per policy the figures of ``results.json``
(average, p50/p95/p99 JCT, wait, utilisation, preemptions, partial gangs, fairness, the longest time a
tenant spent below its entitlement with a job that fit in it), the replay's wall time and cost per
scheduling decision by pending-queue length, and the quality ratios the issue asks for (production's
average JCT against FIFO's, 2D-LAS's and SRTF's). ``--speed N`` adds one production replay of an
N-job trace of the same shape (timed only). Everything also goes to ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from motherboard.scheduler.simulate.jobcli import cluster_nodes
from motherboard.scheduler.simulate.jobpolicies import parse_job_policies
from motherboard.scheduler.simulate.jobreplay import JobReplay
from motherboard.scheduler.simulate.jobresults import downsample, percentile, summarise, write_job_outputs
from motherboard.scheduler.simulate.jobs import synthetic_jobs

CLUSTER = "64x8xA100"
CAPACITY = 512


def _run(args: tuple[str, int, int, float, str | None, float]) -> dict[str, Any]:
    policy, count, seed, load, out, checkpoint = args
    jobs = synthetic_jobs(
        seed, count, capacity_gpus=CAPACITY, load=load, median_duration_s=300, checkpoint=checkpoint
    )
    (p,) = parse_job_policies(policy)
    t = time.perf_counter()
    replay = JobReplay(jobs, cluster_nodes(CLUSTER), p).run()
    wall = time.perf_counter() - t
    summary = summarise(replay)
    summary["replay"]["wall_s_total"] = round(wall, 2)
    if out is not None:  # this policy's results.json and plots
        write_job_outputs([replay], Path(out) / policy, {"policy": policy, "jobs": count, "seed": seed})
    span = jobs[-1].submit_time - jobs[0].submit_time
    jct = [j.finished - j.spec.submit_time for j in replay.jobs if j.finished is not None]
    hours, used = downsample(replay, 1500)
    curves = {
        "jct_quantiles": [round(percentile(jct, q / 4), 1) for q in range(401)],
        "utilization_curve": [[round(h, 3) for h in hours], [round(u, 2) for u in used]],
    }
    return {"policy": policy, "jobs": count, "span_days": round(span / 86400, 2), **summary, **curves}


def _plots(results: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, util) = plt.subplots(1, 2, figsize=(13, 4.5))
    for r in results:
        cdf.plot(r["jct_quantiles"], [q / 400 for q in range(401)], label=r["policy"])
        util.step(*r["utilization_curve"], where="post", lw=0.6, label=r["policy"])
    cdf.set_xscale("log")
    cdf.set_xlabel("job completion time (s)")
    cdf.set_ylabel("fraction of jobs")
    util.set_xlabel("time (h)")
    util.set_ylabel("GPUs in use (% of 512)")
    for ax in (cdf, util):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=13000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--load", type=float, default=0.9)
    ap.add_argument("--checkpoint", type=float, default=0.0, help="fraction of jobs that checkpoint")
    ap.add_argument("--policies", default="all")
    ap.add_argument("--speed", type=int, default=0, help="also time a production replay of N jobs")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench-out/job-replay"))
    ap.add_argument(
        "--plots-per-policy", action="store_true", help="also each policy's results.json and PNGs"
    )
    args = ap.parse_args()
    names = [p.name for p in parse_job_policies(args.policies)]
    out = str(args.out) if args.plots_per_policy else None
    tasks = [(n, args.jobs, args.seed, args.load, out, args.checkpoint) for n in names]
    if args.speed:
        tasks.insert(0, ("production", args.speed, args.seed, args.load, None, args.checkpoint))
    workers = args.workers or min(len(tasks), os.cpu_count() or 1)
    started = time.perf_counter()
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, {workers} worker processes; "
          f"cluster {CLUSTER} ({CAPACITY} GPUs), load {args.load}, seed {args.seed}, checkpoint {args.checkpoint}", flush=True)  # fmt: skip
    print("| policy | jobs | days | avg JCT s | p50 | p95 | p99 | avg wait s | GPU util | preempt | partial | "
          "fairness | max below entitlement s | replay s (CPU s) | us/decision |", flush=True)  # fmt: skip
    print("|---" * 15 + "|", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(workers) as pool:
        for future in as_completed([pool.submit(_run, task) for task in tasks]):
            r = future.result()
            results.append(r)
            (args.out / "results.json").write_text(json.dumps(results, indent=1))  # kept if cut short
            worst = max((t["max_below_entitlement_s"] for t in r["tenants"].values()), default=0.0)
            print(
                f"| {r['policy']} | {r['jobs']} | {r['span_days']} | {r['avg_jct_s']:.0f} | {r['p50_jct_s']:.0f} | "
                f"{r['p95_jct_s']:.0f} | {r['p99_jct_s']:.0f} | {r['avg_wait_s']:.0f} | "
                f"{100 * r['gpu_utilization']:.1f} % | {r['preemptions']} | {r['partial_gangs']} | "
                f"{r['fairness']:.3f} | {worst:.0f} | {r['replay']['wall_s']:.1f} ({r['replay'].get('cpu_s', 0.0):.1f} CPU) | "
                f"{r['replay']['us_per_decision']} |",
                flush=True,
            )
    by = {r["policy"]: r for r in results if r["jobs"] == args.jobs}
    if "production" in by:
        prod = by["production"]["avg_jct_s"]
        for other, goal in (("fifo", 0.6), ("2d-las", 1.0), ("srtf", 1.3)):
            if other in by and by[other]["avg_jct_s"]:
                ratio = prod / by[other]["avg_jct_s"]
                verdict = "met" if ratio <= goal else "NOT met"
                print(f"production / {other} average JCT: {ratio:.3f} (goal <= {goal}: {verdict})")
        print("cost per decision by pending-queue length (production):",
              by["production"]["replay"]["us_per_decision_by_pending"])  # fmt: skip
    print(f"total wall {time.perf_counter() - started:.1f} s")
    _plots([r for r in results if r["jobs"] == args.jobs], args.out / "jct_and_utilization.png")


if __name__ == "__main__":
    main()
