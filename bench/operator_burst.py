"""Operator benchmark: 1,000 small AIJobs (4 pods each) submitted at once.

    python bench/operator_burst.py [--jobs 1000] [--profile profiles/bench-100.yaml]

Starts a private dev cluster (its own state dir), installs the CRDs, runs the real operator (with its
webhook) and the real scheduler, creates one Queue, submits the jobs concurrently and reports: time until
every job is Running (followed through one watch, not by listing 1,000 jobs over and over, which on a
busy API server costs more than the burst itself), the operator's CPU-seconds and peak RSS (from /proc),
reconcile latency p50/p99 (from the operator's own histogram) and the API calls the operator's burst
cost (from the API server's request counters). Everything it starts is stopped at the end, on SIGTERM too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from motherboard.api import crdgen
from motherboard.api.v1alpha1 import KINDS
from motherboard.demo import components
from motherboard.devcluster.build import ensure_binaries
from motherboard.devcluster.cluster import DevCluster
from motherboard.devcluster.profile import ClusterProfile
from motherboard.kube import Kube, load_access
from motherboard.kube.client import ignore, path_for
from motherboard.kube.reflector import Reflector

GROUP, VERSION = "motherboard.io", "v1alpha1"
NAMESPACE = "burst"


def job(index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AIJob",
        "metadata": {"name": f"job-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "type": "Batch",
            "gang": {"minAvailable": 4},
            "tasks": [
                {
                    "name": "w",
                    "replicas": 4,
                    "template": {
                        "spec": {
                            "tolerations": [{"operator": "Exists"}],
                            "containers": [
                                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}
                            ],
                        }
                    },
                }
            ],
        },
    }


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = 100.0
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    hwm = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return cpu, (int(hwm.group(1)) / 1024 if hwm else 0.0)


def histogram_quantiles(metrics: str, name: str, quantiles: tuple[float, ...]) -> list[float]:
    buckets = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', metrics, re.M)
        if m.group(1) != "+Inf"
    ]
    total = float(re.search(rf"^{name}_count (\S+)$", metrics, re.M).group(1))  # type: ignore[union-attr]
    result = []
    for q in quantiles:
        target = q * total
        result.append(next((le for le, count in buckets if count >= target), float("inf")))
    return result


async def submit(kube: Kube, jobs: int, concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            await kube.create(path_for(GROUP, VERSION, "aijobs", NAMESPACE), job(i))

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(jobs)))
    return time.monotonic() - started


class Phases:
    """Every job's phase, kept current by a watch on the namespace's AIJobs."""

    def __init__(self) -> None:
        self.by_job: dict[str, str] = {}
        self.changed = asyncio.Event()

    def on_job(self, obj: dict[str, Any], deleted: bool) -> None:
        name = obj["metadata"]["name"]
        if deleted:
            self.by_job.pop(name, None)
        else:
            self.by_job[name] = (obj.get("status") or {}).get("phase", "Pending")
        self.changed.set()


async def wait_running(phases: Phases, jobs: int, timeout: float, started: float) -> float:
    last_print = 0.0
    while time.monotonic() - started < timeout:
        counts = Counter(phases.by_job.values())
        if time.monotonic() - last_print > 5:
            print(f"[bench] {time.monotonic() - started:6.1f}s {dict(counts)}", file=sys.stderr, flush=True)
            last_print = time.monotonic()
        if counts["Running"] >= jobs:
            return time.monotonic() - started
        phases.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(phases.changed.wait(), timeout=5)
    raise TimeoutError(f"not all {jobs} jobs Running after {timeout:.0f}s")


def api_calls(kubectl: list[str]) -> Counter[str]:
    """Mutating API calls served so far, by resource (the API server's own counters)."""
    text = subprocess.run(
        [*kubectl, "get", "--raw", "/metrics"], check=True, capture_output=True, text=True
    ).stdout
    calls: Counter[str] = Counter()
    for m in re.finditer(r"^apiserver_request_total\{([^}]*)\} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("verb") in {"POST", "PATCH", "PUT", "DELETE"}:
            what = labels.get("resource", "") + (
                f"/{labels['subresource']}" if labels.get("subresource") else ""
            )
            calls[what] += int(float(m.group(2)))
    return calls


async def main_async(
    args: argparse.Namespace, dev: DevCluster, operator: components.Component, kubectl: list[str]
) -> dict[str, Any]:
    async with Kube(load_access(dev.kubeconfig), connections=args.concurrency, timeout=120) as kube:
        await ignore(409, kube.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}}))
        queue = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Queue",
            "metadata": {"name": NAMESPACE},
            "spec": {"namespaces": [NAMESPACE], "quotas": [{"resource": "cpu", "nominal": 100000}]},
        }
        await ignore(409, kube.create(path_for(GROUP, VERSION, "queues"), queue))
        await asyncio.sleep(3)  # the webhook's queue index catches up
        phases = Phases()
        watch = Reflector(kube, path_for(GROUP, VERSION, "aijobs", NAMESPACE), phases.on_job)
        watching = asyncio.create_task(watch.run())
        await watch.synced.wait()
        cpu0, _ = proc_stats(operator.proc.pid)  # type: ignore[union-attr]
        calls0 = api_calls(kubectl)
        t0 = time.monotonic()
        submit_s = await submit(kube, args.jobs, args.concurrency)
        running_s = await wait_running(phases, args.jobs, args.timeout, t0)
        total = time.monotonic() - t0
        cpu1, rss = proc_stats(operator.proc.pid)  # type: ignore[union-attr]
        calls = api_calls(kubectl) - calls0
        watching.cancel()
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.ports['metrics']}/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    p50, p99 = histogram_quantiles(metrics, "motherboard_operator_reconcile_duration_seconds", (0.5, 0.99))
    return {
        "jobs": args.jobs,
        "pods": args.jobs * 4,
        "submit_s": round(submit_s, 1),
        "all_running_s": round(total, 1),
        "after_submit_s": round(running_s - submit_s, 1),
        "operator_cpu_s": round(cpu1 - cpu0, 1),
        "operator_peak_rss_mib": round(rss, 1),
        "reconcile_p50_le_s": p50,
        "reconcile_p99_le_s": p99,
        "api_writes_during_burst": dict(calls.most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--profile", type=Path, default=Path("profiles/bench-100.yaml"))
    args = parser.parse_args()
    # SIGTERM (a timeout, a killed session) must still stop the cluster: run the finally clause below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    state = Path(tempfile.mkdtemp(prefix="mb-operator-bench-"))
    dev = DevCluster(state)
    dev.up(ClusterProfile.load(args.profile), progress=lambda m: print(f"[cluster] {m}", file=sys.stderr))
    parts = [
        components.operator(dev.kubeconfig, state / "logs"),
        components.scheduler(dev.kubeconfig, state / "logs"),
    ]
    kubectl = [str(ensure_binaries().kubectl), f"--kubeconfig={dev.kubeconfig}"]
    try:
        subprocess.run(
            [*kubectl, "apply", "--server-side", "-f", "-"],
            check=True,
            text=True,
            input="---\n".join(crdgen.render(k) for k in KINDS),
            capture_output=True,
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
            check=True,
            capture_output=True,
        )
        for part in parts:
            part.start()
        time.sleep(8)
        result = asyncio.run(main_async(args, dev, parts[0], kubectl))
        print(json.dumps(result, indent=2))
    finally:
        for part in reversed(parts):
            part.stop()
        dev.down()


if __name__ == "__main__":
    main()
