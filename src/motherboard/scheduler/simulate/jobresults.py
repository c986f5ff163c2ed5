"""What a job replay measured, as users feel it: completion and waiting times, utilisation, fairness.

Per policy (``results.json``):

``avg_jct_s``, ``p50_jct_s``, ``p95_jct_s``, ``p99_jct_s``
    Job completion time: finish − submit, over the jobs that finished.
``avg_wait_s``
    Submit to the first start (the whole gang bound).
``makespan_s``
    First submission to the last completion.
``gpu_utilization``
    GPU-seconds used over capacity × makespan (0–1).
``preemptions``, ``partial_gangs``
    Evictions of running jobs; gangs bound with fewer pods than they have (must be 0).
``tenants``
    Per tenant: entitlement (nominal quota, GPUs), average GPUs used, and the time it spent *starved*:
    with a pending job that would fit in the unused part of its entitlement, yet not running it
    (``below_entitlement_s`` in all, ``max_below_entitlement_s`` the longest stretch).
``fairness``
    Jain's index over tenants of (GPUs used ÷ GPUs it was owed), time-averaged over the instants it had
    pending work; 1.0 is perfectly fair.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from motherboard.scheduler.simulate.jobreplay import JobReplay


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarise(replay: JobReplay) -> dict[str, Any]:
    """The figures of one policy's replay (see the module docstring)."""
    jobs = replay.jobs
    finished = [j for j in jobs if j.finished is not None]
    jct = [j.finished - j.spec.submit_time for j in finished if j.finished is not None]
    waits = [j.first_start - j.spec.submit_time for j in jobs if j.first_start is not None]
    first = min((j.spec.submit_time for j in jobs), default=0.0)
    last = max((j.finished for j in finished if j.finished is not None), default=first)
    makespan = max(last - first, 0.0)
    used_area = _area(replay, last)
    tenants, fairness = _tenants(replay, last)
    stats = replay.stats
    return {
        "jobs": len(jobs),
        "finished": len(finished),
        "rejected": sum(1 for j in jobs if j.rejected),
        "unfinished": len(jobs) - len(finished),
        "avg_jct_s": round(statistics.fmean(jct), 2) if jct else 0.0,
        "p50_jct_s": round(percentile(jct, 50), 2),
        "p95_jct_s": round(percentile(jct, 95), 2),
        "p99_jct_s": round(percentile(jct, 99), 2),
        "avg_wait_s": round(statistics.fmean(waits), 2) if waits else 0.0,
        "makespan_s": round(makespan, 2),
        "gpu_utilization": round(used_area / (replay.capacity_gpus * makespan), 4) if makespan else 0.0,
        "preemptions": replay.preemptions,
        "partial_gangs": stats.partial_gangs,
        "tenants": tenants,
        "fairness": fairness,
        "replay": {
            "wall_s": round(stats.wall_s, 3),
            "cpu_s": round(stats.cpu_s, 3),
            "cycles": stats.cycles,
            "decisions": stats.decisions,
            "cycle_s": round(stats.cycle_s, 3),
            "us_per_decision": round(1e6 * stats.cycle_s / stats.decisions, 1) if stats.decisions else 0.0,
            "us_per_decision_by_pending": {
                f"<{k}": round(1e6 * v[0] / v[1], 1) for k, v in sorted(stats.by_queue_length.items()) if v[1]
            },
        },
    }


def _area(replay: JobReplay, end: float) -> float:
    samples = replay.samples
    return sum(
        s.used_gpus * (min(nxt, end) - s.time)
        for s, nxt in zip(samples, [*(x.time for x in samples[1:]), end], strict=True)
        if nxt > s.time
    )


def _tenants(replay: JobReplay, end: float) -> tuple[dict[str, dict[str, float]], float]:
    samples = replay.samples
    out: dict[str, dict[str, float]] = {}
    ratios = []
    for tenant, entitled in replay.entitlement.items():
        used_area = starved = longest = run = owed_area = got_area = 0.0
        for s, nxt in zip(samples, [*(x.time for x in samples[1:]), end], strict=True):
            dt = max(min(nxt, end) - s.time, 0.0)
            used = s.tenant_gpus.get(tenant, 0.0)
            used_area += used * dt
            if tenant in s.pending:
                owed_area += entitled * dt
                got_area += min(used, entitled) * dt
            if tenant in s.pending and used + s.pending[tenant] <= entitled + 1e-9:
                starved += dt
                run += dt
                longest = max(longest, run)
            else:
                run = 0.0
        span = max(end - (samples[0].time if samples else end), 1e-9)
        out[tenant] = {
            "entitlement_gpus": round(entitled, 3),
            "avg_gpus": round(used_area / span, 3),
            "below_entitlement_s": round(starved, 2),
            "max_below_entitlement_s": round(longest, 2),
        }
        if owed_area > 0:
            ratios.append(got_area / owed_area)
    jain = (sum(ratios) ** 2 / (len(ratios) * sum(r * r for r in ratios))) if ratios and any(ratios) else 1.0
    return out, round(jain, 4)


def write_job_outputs(replays: Sequence[JobReplay], out: Path, meta: dict[str, Any]) -> dict[str, Path]:
    """``results.json``, ``jct_cdf.png``, ``utilization.png`` and ``tenants.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {**meta, "policies": {r.policy.name: summarise(r) for r in replays}}
    paths = {
        "json": out / "results.json",
        "cdf": out / "jct_cdf.png",
        "util": out / "utilization.png",
        "tenants": out / "tenants.png",
    }
    paths["json"].write_text(json.dumps(doc, indent=1))
    _plots(replays, paths)
    return paths


def _plots(replays: Sequence[JobReplay], paths: dict[str, Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in replays:
        jct = sorted(j.finished - j.spec.submit_time for j in r.jobs if j.finished is not None)
        if jct:
            ax.plot(jct, [(i + 1) / len(jct) for i in range(len(jct))], label=r.policy.name)
    ax.set_xscale("log")
    ax.set_xlabel("job completion time (s)")
    ax.set_ylabel("fraction of jobs")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["cdf"], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in replays:
        xs, ys = downsample(r)
        ax.step(xs, ys, where="post", label=r.policy.name, lw=0.8)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("GPUs in use (% of capacity)")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["util"], dpi=110)
    plt.close(fig)

    first = next((r for r in replays if r.policy.name == "production"), replays[0] if replays else None)
    if first is None:
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    start = first.samples[0].time if first.samples else 0.0
    for tenant, entitled in first.entitlement.items():
        xs = [(s.time - start) / 3600 for s in first.samples]
        ys = [s.tenant_gpus.get(tenant, 0.0) for s in first.samples]
        line = ax.step(xs, ys, where="post", lw=0.7, label=f"{tenant} used")[0]
        ax.axhline(entitled, color=line.get_color(), ls=":", lw=1)
    ax.set_title(f"{first.policy.name}: GPUs per tenant (dotted: entitlement)")
    ax.set_xlabel("time (h)")
    ax.set_ylabel("GPUs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(paths["tenants"], dpi=110)
    plt.close(fig)


def downsample(replay: JobReplay, points: int = 4000) -> tuple[list[float], list[float]]:
    samples = replay.samples
    if not samples:
        return [], []
    step = max(1, len(samples) // points)
    start = samples[0].time
    chosen = samples[::step]
    cap = max(replay.capacity_gpus, 1)
    return [(s.time - start) / 3600 for s in chosen], [100 * s.used_gpus / cap for s in chosen]
