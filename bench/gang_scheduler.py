"""B2: gangs on 100 nodes — completion latency, zero partial placements, zero deadlocks.

    python bench/gang_scheduler.py --kubeconfig /tmp/mb-bench/kubeconfig

Runs on the GPU nodes of ``profiles/bench-500.yaml`` (100 nodes, 8 GPUs each; pods select them by
instance type). Scenarios, each in its own namespace with a fresh Motherboard process:

* ``20x50`` and ``10x100``: that many gangs of plain pods (``minAvailable`` = size), all created at once;
  per gang, the time from its last member's creation to its last member's binding.
* ``pair``: two gangs of 75 whole-node pods (8 GPUs each) — 150 nodes' worth on 100 nodes, 1.5×
  capacity. Exactly one may complete; the other must hold nothing.

Every scenario ends with a check after the binding has settled: a gang with some but not all members
bound is a *partial placement*; no gang completing while one could is a *deadlock*. kube-scheduler is not
run here: v1.35 has no gang scheduling without its alpha Workload API.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from throughput_scheduler import MB, drop_namespace, load, namespace, percentile, show, start_motherboard

from motherboard.kube import Kube, load_access

Obj = dict[str, Any]
GPU_NODES = {"node.kubernetes.io/instance-type": "hgx-h100-8"}


def member(job: str, i: int, size: int, gpus: int) -> Obj:
    resources: Obj = {"requests": {"cpu": "100m"}}
    if gpus:
        resources = {"requests": {"cpu": "1"}, "limits": {"nvidia.com/gpu": str(gpus)}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{job}-{i}",
            "labels": {"motherboard.io/pod-group": job},
            "annotations": {"motherboard.io/gang-min-available": str(size)},
        },
        "spec": {
            "schedulerName": MB,
            "nodeSelector": GPU_NODES,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "main", "image": "busybox", "resources": resources}],
        },
    }


async def scenario(
    kube: Kube, ns: str, jobs: int, size: int, gpus: int, conc: int, kubeconfig: Path, log: Path, wait: float
) -> Obj:
    await namespace(kube, ns)
    proc = start_motherboard(kubeconfig, conc, log)
    try:
        await asyncio.sleep(5)  # start-up and the initial lists
        cpu0, _ = proc.usage()
        bodies = [member(f"job{j}", i, size, gpus) for j in range(jobs) for i in range(size)]
        created: dict[str, float] = {}
        bound: dict[str, float] = {}
        version = (await kube.list(f"/api/v1/namespaces/{ns}/pods", limit="1"))["metadata"]["resourceVersion"]

        async def watch() -> None:
            async for event in kube.watch(f"/api/v1/namespaces/{ns}/pods", version, timeoutSeconds="600"):
                obj = event.get("object") or {}
                if event.get("type") != "BOOKMARK" and (obj.get("spec") or {}).get("nodeName"):
                    bound.setdefault(obj["metadata"]["name"], time.monotonic())

        watching = asyncio.create_task(watch())
        sem = asyncio.Semaphore(conc)

        async def create(body: Obj) -> None:
            async with sem:
                await kube.create(f"/api/v1/namespaces/{ns}/pods", body)
                created[body["metadata"]["name"]] = time.monotonic()

        start = time.monotonic()
        await asyncio.gather(*(create(b) for b in bodies))
        expect = len(bodies) if gpus == 0 else size  # the 1.5x pair: one gang fits
        deadline = time.monotonic() + wait
        while len(bound) < expect and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(5)  # settle: anything still in flight lands now
        watching.cancel()
        cpu, rss = proc.usage()
    finally:
        proc.stop()
    # The server's word on who is bound, not the watch's.
    items = (await kube.list(f"/api/v1/namespaces/{ns}/pods"))["items"]
    per_gang: dict[str, int] = defaultdict(int)
    for obj in items:
        job = obj["metadata"]["labels"]["motherboard.io/pod-group"]
        per_gang[job] += 1 if (obj.get("spec") or {}).get("nodeName") else 0
    complete = [j for j in range(jobs) if per_gang[f"job{j}"] == size]
    partial = [j for j in range(jobs) if 0 < per_gang[f"job{j}"] < size]
    latency = []
    for j in complete:
        names = [f"job{j}-{i}" for i in range(size)]
        latency.append(max(bound[n] for n in names if n in bound) - max(created[n] for n in names))
    await drop_namespace(kube, ns)
    last = max(bound.values()) if bound else start
    return {
        "gangs": jobs,
        "complete": len(complete),
        "partial": len(partial),
        "deadlock": int(not complete),
        "pods_bound": sum(per_gang.values()),
        "gang_p50_s": percentile(latency, 0.5),
        "gang_max_s": max(latency, default=float("nan")),
        "all_bound_s": last - start,
        "pods_per_s": sum(per_gang.values()) / max(1e-9, last - start),
        "cpu_s_per_1000": 1000 * (cpu - cpu0) / max(1, sum(per_gang.values())),
        "peak_rss_mib": rss,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", type=Path, default=Path("/tmp/mb-bench/kubeconfig"))
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--scenarios", default="20x50,10x100,pair")
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp/mb-bench-logs"))
    args = parser.parse_args()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    log, tag = args.log_dir / "motherboard-gang.log", os.getpid()
    runs = {"20x50": (20, 50, 0), "10x100": (10, 100, 0), "pair": (2, 75, 8)}
    async with Kube(load_access(args.kubeconfig), connections=args.concurrency + 8) as kube:
        print(
            f"B2 gangs on 100 GPU nodes; motherboard qps=unlimited concurrency={args.concurrency}; {load()}"
        )
        for name in args.scenarios.split(","):
            jobs, size, gpus = runs[name]
            ns = f"gang-{name.replace('x', '-')}-{tag}"
            show(
                name, await scenario(kube, ns, jobs, size, gpus, args.concurrency, args.kubeconfig, log, 120)
            )


if __name__ == "__main__":
    asyncio.run(main())
