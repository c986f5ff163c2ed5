"""The scheduler process's own CPU cost per pod, without an API server: watch events → cycle → binder.

    python bench/throughput_inprocess.py --nodes-profile profiles/bench-500.yaml --pods 1000 [--gpu] [--profile]

Feeds the :class:`~motherboard.scheduler.service.world.World` the node objects the dev cluster would
create, then ``--pods`` pending pods in bursts of ``--burst`` (the ADDED events a watch delivers), runs
the scheduling loop's cycle, and answers every API call at once with the watch events the API server and
kwok would send back (the binding with its assignment annotation, two kubelet status updates). What it
measures is the scheduler's CPU per pod — the ceiling the process puts on throughput on this machine — and
where it goes (``--profile``: cProfile, top 30 by cumulative time).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import pstats
import time
from pathlib import Path
from typing import Any

from motherboard.devcluster.profile import ClusterProfile
from motherboard.devcluster.render import render_nodes
from motherboard.scheduler.placement import shipped_profile
from motherboard.scheduler.service.binder import Binder
from motherboard.scheduler.service.world import World

Obj = dict[str, Any]


def pod(i: int, gpu: bool) -> Obj:
    resources: Obj = {"requests": {"cpu": "10m"}}
    if gpu:
        resources = {"requests": {"cpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}
    return {
        "metadata": {
            "name": f"p{i}",
            "namespace": "bench",
            "uid": f"uid-{i}",
            "resourceVersion": str(i),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {},
            "annotations": {},
        },
        "spec": {
            "schedulerName": "motherboard-scheduler",
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "c", "image": "busybox", "resources": resources}],
        },
        "status": {"phase": "Pending"},
    }


class FakeApi:
    """Answers every call at once and plays the watch events the cluster would send back."""

    def __init__(self, world: World, objs: dict[str, Obj]) -> None:
        self.world, self.objs, self.calls = world, objs, 0

    async def bind(
        self, ns: str, name: str, uid: str, node: str, annotations: dict[str, str] | None = None
    ) -> None:
        self.calls += 1
        obj = self.objs[f"{ns}/{name}"]
        obj["metadata"]["annotations"].update(annotations or {})  # the Binding's annotations
        obj["spec"]["nodeName"] = node
        obj["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
        self.world.on_pod(copy.deepcopy(obj))
        # kwok: Running, then the ready conditions (two status-only updates of a bound pod).
        obj["status"]["phase"] = "Running"
        self.world.on_pod(copy.deepcopy(obj))
        obj["status"]["conditions"].append({"type": "Ready", "status": "True"})
        self.world.on_pod(copy.deepcopy(obj))

    async def condition(self, *_: object, **__: object) -> None:
        self.calls += 1

    async def event(self, *_: object, **__: object) -> None:
        self.calls += 1


async def run(args: argparse.Namespace) -> dict[str, float]:
    world = World(shipped_profile())
    for node in render_nodes(ClusterProfile.load(args.nodes_profile)):
        world.on_node(node)
    objs = {f"bench/p{i}": pod(i, args.gpu) for i in range(args.pods)}
    api = FakeApi(world, objs)
    binder = Binder(world, api)  # type: ignore[arg-type]
    keys = list(objs)
    start, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(keys), args.burst):
        for key in keys[offset : offset + args.burst]:
            world.on_pod(copy.deepcopy(objs[key]))
        while True:
            result = world.cycle.run(limit=args.batch)
            binder.dispatch(result.actions, time.monotonic())
            await binder.drain()
            if not result.actions:
                break
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    bound = sum(1 for k in keys if world.cache.is_bound(k))
    return {
        "bound": bound,
        "seconds": took,
        "cpu_ms_per_pod": 1000 * cpu / args.pods,
        "pods_per_s": bound / took,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes-profile", type=Path, default=Path("profiles/bench-500.yaml"))
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=100, help="pods created between cycles")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--gpu", action="store_true", help="pods ask for one nvidia.com/gpu")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if not args.profile:
        print({k: round(v, 3) for k, v in asyncio.run(run(args)).items()})
        return
    prof = cProfile.Profile()
    prof.enable()
    out = asyncio.run(run(args))
    prof.disable()
    print({k: round(v, 3) for k, v in out.items()})
    pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
