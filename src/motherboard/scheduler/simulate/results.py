"""Sweep results: ``results.json``, a CSV of every level, a PNG plot and the terminal table."""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from motherboard.scheduler.simulate.packing import REPORT_LEVELS, PackingResult

PUBLISHED = {"random": 87.47, "dotprod": 90.85, "packing": 92.00, "bestfit": 93.08, "fgd": 95.39}
"""Published GPU allocation (%) at 130 % arrival, default trace, mean of seeds 42..51 (ATC '23)."""


def summarise(results: list[PackingResult]) -> dict[str, dict[str, float]]:
    """Per policy: mean and standard deviation of the final allocation ratio, the mean allocation at each
    reported arrived level (``at100`` … ``at130``) and the mean CPU time."""
    by_policy: dict[str, list[PackingResult]] = defaultdict(list)
    for r in results:
        by_policy[r.policy].append(r)
    out = {}
    for policy, runs in by_policy.items():
        ratios = [r.allocation_ratio for r in runs]
        out[policy] = {
            "mean": round(statistics.fmean(ratios), 3),
            "std": round(statistics.stdev(ratios), 3) if len(ratios) > 1 else 0.0,
            "runs": len(runs),
            "cpu_seconds": round(statistics.fmean(r.cpu_seconds for r in runs), 3),
            **{f"at{lv}": round(statistics.fmean(r.at(lv) for r in runs), 3) for lv in REPORT_LEVELS},
        }
        if policy in PUBLISHED:
            out[policy]["published"] = PUBLISHED[policy]
    return out


def write_outputs(results: list[PackingResult], out: Path, meta: dict[str, object]) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv`` and ``allocation.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    policies: dict[str, dict[str, object]] = defaultdict(dict)
    for r in results:
        policies[r.policy][str(r.seed) if r.mix is None else f"{r.mix}/{r.seed}"] = r.to_json()
    doc = {**meta, "policies": policies, "summary": summarise(results)}
    paths = {"json": out / "results.json", "csv": out / "results.csv", "png": out / "allocation.png"}
    paths["json"].write_text(json.dumps(doc, indent=1))
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["policy", "mix", "seed", "arrived_pct", "allocation_pct", "fragmentation_pct"])
        for r in results:
            for a, b, c in zip(r.arrived, r.allocation, r.fragmentation, strict=True):
                writer.writerow([r.policy, r.mix or "", r.seed, f"{a:.2f}", f"{b:.4f}", f"{c:.4f}"])
    _plot(results, paths["png"])
    return paths


def _plot(results: list[PackingResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_policy: dict[str, list[PackingResult]] = defaultdict(list)
    for r in results:
        by_policy[r.policy].append(r)
    for policy, runs in by_policy.items():
        # Runs differ in their level grid; plot the first seed's curve and label with the mean final value.
        mean = statistics.fmean(r.allocation_ratio for r in runs)
        ax.plot(runs[0].arrived, runs[0].allocation, label=f"{policy} ({mean:.2f} %)")
    ax.plot([0, 130], [0, 130], color="grey", lw=0.5, ls=":")
    ax.set_xlabel("arrived GPU demand (% of capacity)")
    ax.set_ylabel("GPU allocation (% of capacity)")
    ax.set_xlim(60, 131)
    ax.set_ylim(60, 100)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
