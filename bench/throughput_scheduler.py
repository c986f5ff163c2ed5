"""B0 (bind ceiling) and B1 (Motherboard throughput) against a running dev cluster.

    python bench/throughput_scheduler.py --pods 1000 [--kubeconfig PATH]

B0: pods with a scheduler name nobody serves are created, then bound round-robin to the cluster's nodes by
a trivial binder (the same aiohttp client and concurrency as the scheduler): how fast this API server
accepts bindings at all. B1: the same number of pods for ``motherboard-scheduler`` are created while the
scheduler process runs; bound pods/s from the first create to the last bind, and create→bound latency
(client-side create completion → the watch event that shows ``nodeName``). Each phase runs in its
own namespace, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from motherboard.kube import Kube, load_access

TOLERATE_ALL = [{"operator": "Exists"}]


def pod(name: str, scheduler: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "schedulerName": scheduler,
            "tolerations": TOLERATE_ALL,
            "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}],
        },
    }


async def create(kube: Kube, ns: str, n: int, scheduler: str, created: dict[str, float], conc: int) -> None:
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with sem:
            await kube.create(f"/api/v1/namespaces/{ns}/pods", pod(f"p{i}", scheduler))
            created[f"p{i}"] = time.monotonic()

    await asyncio.gather(*(one(i) for i in range(n)))


async def namespace(kube: Kube, ns: str) -> None:
    await kube.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    )
    for _ in range(100):
        try:
            await kube.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default")
            return
        except Exception:
            await asyncio.sleep(0.1)


async def b0(kube: Kube, n: int, conc: int) -> dict[str, float]:
    ns = f"bench-b0-{os.getpid()}"
    await namespace(kube, ns)
    await create(kube, ns, n, "bench-nobody", {}, conc)
    nodes = [x["metadata"]["name"] for x in (await kube.list("/api/v1/nodes"))["items"]]
    sem = asyncio.Semaphore(conc)

    async def bind(i: int) -> None:
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": f"p{i}"},
                "target": {"kind": "Node", "name": nodes[i % len(nodes)]}}  # fmt: skip
        async with sem:
            await kube.create(f"/api/v1/namespaces/{ns}/pods/p{i}/binding", body)

    start = time.monotonic()
    await asyncio.gather(*(bind(i) for i in range(n)))
    took = time.monotonic() - start
    await kube.delete(f"/api/v1/namespaces/{ns}")
    return {"pods_per_s": n / took, "seconds": took}


async def b1(kube: Kube, kubeconfig: Path, n: int, conc: int) -> dict[str, float]:
    ns = f"bench-b1-{os.getpid()}"
    await namespace(kube, ns)
    log = open(f"/tmp/{ns}.log", "wb")  # noqa: SIM115 - the subprocess writes it
    proc = subprocess.Popen(
        [sys.executable, "-m", "motherboard.scheduler.service", "run", f"--kubeconfig={kubeconfig}",
         "--no-leader-elect", "--metrics-port=0", "--health-port=0", f"--concurrency={conc}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        await asyncio.sleep(4)  # start-up and initial list
        created: dict[str, float] = {}
        bound: dict[str, float] = {}
        version = (await kube.list(f"/api/v1/namespaces/{ns}/pods"))["metadata"]["resourceVersion"]

        async def watch() -> None:  # a watch, not polling: listing 1,000 pods often would load the server
            async for event in kube.watch(f"/api/v1/namespaces/{ns}/pods", version):
                obj = event["object"]
                if obj.get("spec", {}).get("nodeName") and obj["metadata"]["name"] not in bound:
                    bound[obj["metadata"]["name"]] = time.monotonic()
                    if len(bound) == n:
                        return

        watching = asyncio.create_task(watch())
        start = time.monotonic()
        creating = asyncio.create_task(create(kube, ns, n, "motherboard-scheduler", created, conc))
        await asyncio.wait_for(watching, timeout=300)
        await creating
        took = max(bound.values()) - start
        lat = sorted(bound[k] - created[k] for k in bound if k in created)
        return {
            "pods_per_s": len(bound) / took,
            "seconds": took,
            "p50": lat[len(lat) // 2],
            "p99": lat[int(len(lat) * 0.99) - 1],
            "bound": len(bound),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        await kube.delete(f"/api/v1/namespaces/{ns}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--kubeconfig", type=Path, default=Path.home() / ".local/state/motherboard/dev-cluster/kubeconfig"
    )
    args = parser.parse_args()
    async with Kube(load_access(args.kubeconfig), connections=args.concurrency + 8) as kube:
        nodes = len((await kube.list("/api/v1/nodes"))["items"])
        print(f"nodes={nodes} pods={args.pods} concurrency={args.concurrency} qps=unlimited")
        print(
            "B0 bind ceiling:",
            {k: round(v, 3) for k, v in (await b0(kube, args.pods, args.concurrency)).items()},
        )
        result = await b1(kube, args.kubeconfig, args.pods, args.concurrency)
        print("B1 motherboard:", {k: round(v, 3) for k, v in result.items()})


if __name__ == "__main__":
    asyncio.run(main())
