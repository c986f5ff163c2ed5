"""Bind N pods two ways, side by side on one cluster: which client should the scheduler bind through?

    motherboard dev-cluster up --state-dir /tmp/mb-bench --profile profiles/bench-500.yaml
    python bench/http_clients.py --kubeconfig /tmp/mb-bench/kubeconfig --pods 1000 --rounds 2

* ``official`` — the official ``kubernetes`` client (urllib3, a connection pool of ``--concurrency``)
  from ``--concurrency`` threads: ``create_namespaced_binding(..., _preload_content=False)`` (without it
  the client fails to read the answer back into a ``V1Binding``);
* ``aiohttp`` — :class:`motherboard.kube.Kube` as the scheduler and the operator use it (one pooled
  aiohttp session, plain JSON, no model objects).

Each round creates ``--pods`` pods nobody schedules, then binds them round-robin to the cluster's nodes
with ``--concurrency`` calls in flight, in the order official, aiohttp (then the next round). Reported
per client: pods/s (wall) and this process's CPU per call (user + system, threads included) — the CPU the
client takes away from the API server on a machine it shares.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from throughput_scheduler import drop_namespace, namespace  # bench/ is on the path when run as a script

from motherboard.kube import Kube, load_access

Obj = dict[str, Any]


def pod(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "schedulerName": "bench-nobody",
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "main", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}],
        },
    }


def binding(name: str, node: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}  # fmt: skip


async def prepare(kube: Kube, ns: str, n: int, conc: int) -> None:
    await namespace(kube, ns)
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with sem:
            await kube.create(f"/api/v1/namespaces/{ns}/pods", pod(f"p{i}"))

    await asyncio.gather(*(one(i) for i in range(n)))


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def bind_official(kubeconfig: Path, ns: str, n: int, nodes: list[str], conc: int) -> tuple[float, float]:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = conc
    api = k8s.CoreV1Api(k8s.ApiClient(configuration))

    def one(i: int) -> None:
        api.create_namespaced_binding(ns, binding(f"p{i}", nodes[i % len(nodes)]), _preload_content=False)

    with ThreadPoolExecutor(conc) as pool:
        list(pool.map(one, range(min(conc, n))))  # warm: connections open (these pods are bound too)
        start, used = time.monotonic(), cpu()
        list(pool.map(one, range(min(conc, n), n)))
        return time.monotonic() - start, cpu() - used


async def bind_kube(kube: Kube, ns: str, n: int, nodes: list[str], conc: int) -> tuple[float, float]:
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with sem:
            await kube.create(
                f"/api/v1/namespaces/{ns}/pods/p{i}/binding", binding(f"p{i}", nodes[i % len(nodes)])
            )

    await asyncio.gather(*(one(i) for i in range(min(conc, n))))  # warm, as above
    start, used = time.monotonic(), cpu()
    await asyncio.gather(*(one(i) for i in range(min(conc, n), n)))
    return time.monotonic() - start, cpu() - used


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", type=Path, default=Path("/tmp/mb-bench/kubeconfig"))
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", default="official,aiohttp")
    args = parser.parse_args()
    access = load_access(args.kubeconfig)
    conc, n = args.concurrency, args.pods
    async with Kube(access, connections=conc + 8) as admin:
        nodes = [x["metadata"]["name"] for x in (await admin.list("/api/v1/nodes"))["items"]]
        print(f"nodes={len(nodes)} pods={n} concurrency={conc}", flush=True)
        for r in range(args.rounds):
            for name in args.clients.split(","):
                ns = f"http-{name}-{os.getpid()}-{r}"
                await prepare(admin, ns, n, conc)
                load = os.getloadavg()
                if name == "official":
                    took, used = await asyncio.to_thread(bind_official, args.kubeconfig, ns, n, nodes, conc)
                else:
                    async with Kube(access, connections=conc) as kube:
                        took, used = await bind_kube(kube, ns, n, nodes, conc)
                calls = n - min(conc, n)
                print(f"round {r + 1} {name:8s} {calls / took:7.1f} pods/s  {1e6 * used / calls:6.0f} µs CPU/call  "
                      f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)  # fmt: skip
                await drop_namespace(admin, ns)


if __name__ == "__main__":
    asyncio.run(main())
