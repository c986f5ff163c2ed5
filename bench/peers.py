"""Motherboard beside its peers, Kueue and Volcano, on one local cluster in one run.

    python bench/peers.py                      # the sized-down comparison (see --help for the sizes)
    python bench/peers.py --full               # the issue's sizes: 1,000 and 10,000 pods, 20x50 and 10x100
                                               # gangs, 1,000 jobs in the burst
    python bench/peers.py --only p5 --jobs 200 --out /tmp/peers.json

Starts a private dev cluster (``$MOTHERBOARD_STATE`` or a temporary directory; kwok nodes from
``--profile``) with ``--peers kueue,volcano`` and kube-scheduler (Kueue admits, kube-scheduler places), runs
Motherboard's operator and scheduler from this tree, and submits the *same* work to each system, translated
from one description by ``bench/peers_workloads.py``. The systems run one after another, each in its own
namespace, deleted (and its pods gone) before the next starts; the idle ones stay up, as they would.

* **B1** throughput: ``--pods`` plain pods (10m CPU), then up to ``--gpu-pods`` GPU pods (1 ``nvidia.com/gpu``), created
  as fast as ``--concurrency`` calls allow, for Motherboard's scheduler, Volcano's scheduler and kube-scheduler
  (the scheduler a Kueue cluster places pods with: Kueue admits workloads, not pods). pods/s from the first
  create to the last binding.
* **B2** gangs: ``--gangs`` (``COUNTxSIZE`` of plain pods) and ``pair``: two gangs of whole-node pods (8 GPUs)
  whose sum is 1.5x the selected nodes. Per gang the time from submission to its last member bound, and the
  gangs left partly placed once the binding settles.
* **P5** burst: ``--jobs`` jobs of 4 pods (AIJobs, Kueue-managed Jobs, vcjobs): time until every pod is
  Running, and the CPU-seconds and peak RSS of each system's controllers (from ``/proc``).
* **fair**: two tenants with ``--guarantee`` GPUs each; the borrower fills both guarantees, then the lender
  submits its own: seconds until the lender runs its whole guarantee (the borrower's excess is reclaimed).

Prints one JSON document (also to ``--out``) and a table of Motherboard ÷ each peer. Everything it starts is
stopped at the end, on SIGTERM too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers_workloads as pw

from motherboard.api import crdgen
from motherboard.api.v1alpha1 import KINDS
from motherboard.demo import components
from motherboard.devcluster.build import ensure_binaries
from motherboard.devcluster.cluster import DevCluster
from motherboard.devcluster.procs import is_alive
from motherboard.devcluster.profile import ClusterProfile
from motherboard.kube import ApiError, Kube, load_access

Obj = dict[str, Any]
CLK_TCK = os.sysconf("SC_CLK_TCK")
GPU_NODES = {"node.kubernetes.io/instance-type": "hgx-h100-8"}
"""Where B2's gangs and the pair run (32 nodes x 8 GPUs in ``profiles/bench-100.yaml``)."""
FAIR_NODES = {"node.kubernetes.io/instance-type": "hgx-a100-8"}
"""Where the fairness scenario runs (16 nodes x 8 GPUs: 128 GPUs, two guarantees of 64)."""
SCHEDULER_OF = {"motherboard": pw.MB_SCHEDULER, "kueue": "default-scheduler", "volcano": pw.VOLCANO_SCHEDULER}
CONTROLLERS = {
    "motherboard": ("mb-operator", "mb-scheduler"),
    "kueue": ("kueue", "kube-scheduler", "kube-controller-manager"),
    "volcano": ("volcano-webhook", "volcano-controllers", "volcano-scheduler"),
}
"""The processes whose CPU and memory each system is charged (kube-controller-manager's job controller makes
the pods of Kueue's Jobs; Motherboard's operator and Volcano's controllers make their own)."""

PLURALS = {
    ("", "Namespace"): ("namespaces", False),
    ("motherboard.io", "Queue"): ("queues", False),
    ("motherboard.io", "AIJob"): ("aijobs", True),
    ("kueue.x-k8s.io", "ResourceFlavor"): ("resourceflavors", False),
    ("kueue.x-k8s.io", "ClusterQueue"): ("clusterqueues", False),
    ("kueue.x-k8s.io", "LocalQueue"): ("localqueues", True),
    ("batch", "Job"): ("jobs", True),
    ("scheduling.volcano.sh", "Queue"): ("queues", False),
    ("batch.volcano.sh", "Job"): ("jobs", True),
}


def rest_path(obj: Obj, name: bool = False) -> str:
    api = obj["apiVersion"]
    group, version = api.split("/") if "/" in api else ("", api)
    plural, namespaced = PLURALS[(group, obj["kind"])]
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    ns = f"/namespaces/{obj['metadata']['namespace']}" if namespaced else ""
    return f"{prefix}{ns}/{plural}" + (f"/{obj['metadata']['name']}" if name else "")


# --- processes ------------------------------------------------------------------------------------------------
def proc_usage(pid: int) -> tuple[float, float]:
    """CPU-seconds (user + system, children included) and peak RSS (MiB) of a process; zeros once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = sum(int(stat[i]) for i in (11, 12, 13, 14)) / CLK_TCK
        hwm = 0.0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
        return cpu, hwm
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


@dataclass
class Bench:
    dev: DevCluster
    kube: Kube
    pids: dict[str, int]
    conc: int
    timeout: float
    results: Obj = field(default_factory=dict)

    def usage(self, system: str) -> dict[str, tuple[float, float]]:
        return {name: proc_usage(self.pids[name]) for name in CONTROLLERS[system] if name in self.pids}


# --- cluster helpers ------------------------------------------------------------------------------------------
async def ensure_namespace_gone(kube: Kube, ns: str, timeout: float = 600) -> None:
    with contextlib.suppress(ApiError):
        await kube.delete(f"/api/v1/namespaces/{ns}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await kube.get(f"/api/v1/namespaces/{ns}")
        except ApiError as exc:
            if exc.not_found:
                return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"namespace {ns} still there after {timeout:.0f}s")


async def submit(kube: Kube, objs: list[Obj], conc: int) -> tuple[list[Obj], float]:
    """Create the set-up objects in order, then the jobs concurrently; the set-up objects created (to delete
    afterwards) and the monotonic time the first job was sent."""
    jobs = [o for o in objs if o["kind"] in ("AIJob", "Job")]
    setup = [o for o in objs if o["kind"] not in ("AIJob", "Job")]
    created: list[Obj] = []
    for obj in setup:
        try:
            await kube.create(rest_path(obj), obj)
            created.append(obj)
        except ApiError as exc:
            if exc.status != 409:
                raise
        if obj["kind"] == "Namespace":  # pods need the namespace's default service account
            for _ in range(200):
                try:
                    await kube.get(f"/api/v1/namespaces/{obj['metadata']['name']}/serviceaccounts/default")
                    break
                except ApiError:
                    await asyncio.sleep(0.1)
    await asyncio.sleep(2)  # queues reach their controllers' caches (Kueue refuses jobs of unknown queues)
    sem = asyncio.Semaphore(conc)
    t0 = time.monotonic()

    async def one(obj: Obj) -> None:
        async with sem:
            for attempt in range(5):
                try:
                    await kube.create(rest_path(obj), obj)
                    return
                except ApiError as exc:
                    if exc.status in (409,) or attempt == 4:
                        if exc.status == 409:
                            return
                        raise
                    await asyncio.sleep(0.5 * (attempt + 1))

    await asyncio.gather(*(one(o) for o in jobs))
    return created, t0


async def cleanup(kube: Kube, namespaces: list[str], setup: list[Obj]) -> None:
    for ns in namespaces:
        await ensure_namespace_gone(kube, ns)
    for obj in reversed(setup):
        if obj["kind"] in ("Namespace", "LocalQueue", "ResourceFlavor"):
            continue
        with contextlib.suppress(ApiError):
            await kube.delete(rest_path(obj, name=True))


@dataclass
class PodWatch:
    """Per pod: when it was first seen bound and Running, and the job (owner) it belongs to."""

    bound: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)
    alive: set[str] = field(default_factory=set)

    def gang_bound(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for pod in self.alive:
            if pod in self.bound:
                counts[self.owner.get(pod, "?")] += 1
        return counts


async def watch_pods(kube: Kube, ns: str, seen: PodWatch, stop: asyncio.Event) -> None:
    version = (await kube.list(f"/api/v1/namespaces/{ns}/pods", limit="1"))["metadata"]["resourceVersion"]
    while not stop.is_set():
        try:
            async for event in kube.watch(f"/api/v1/namespaces/{ns}/pods", version, timeoutSeconds="300"):
                if event.get("type") in ("BOOKMARK", "ERROR"):
                    obj = event.get("object") or {}
                    version = (obj.get("metadata") or {}).get("resourceVersion", version)
                    continue
                obj = event["object"]
                meta = obj["metadata"]
                version, name = meta["resourceVersion"], meta["name"]
                if event["type"] == "DELETED":
                    seen.alive.discard(name)
                    continue
                seen.alive.add(name)
                owners = meta.get("ownerReferences") or []
                seen.owner[name] = (
                    owners[0]["name"] if owners else meta.get("labels", {}).get("job-name", "?")
                )
                now = time.monotonic()
                if (obj.get("spec") or {}).get("nodeName"):
                    seen.bound.setdefault(name, now)
                if (obj.get("status") or {}).get("phase") == "Running":
                    seen.running.setdefault(name, now)
                if stop.is_set():
                    return
        except (TimeoutError, ApiError, OSError):
            await asyncio.sleep(0.5)


async def until(cond: Any, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(interval)
    return bool(cond())


# --- B1 -------------------------------------------------------------------------------------------------------
def plain_pod(name: str, scheduler: str, gpu: bool) -> Obj:
    res: Obj = {"requests": {"cpu": "10m"}}
    if gpu:
        res = {"requests": {"cpu": "100m"}, "limits": {pw.GPU: "1"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "schedulerName": scheduler,
            "tolerations": pw.TOLERATE_ALL,
            "containers": [{"name": "main", "image": pw.IMAGE, "resources": res}],
        },
    }


async def b1(b: Bench, system: str, n: int, gpu: bool) -> Obj:
    ns = f"b1-{system[:2]}-{'gpu' if gpu else 'plain'}"
    await ensure_namespace_gone(b.kube, ns)
    await b.kube.create("/api/v1/namespaces", pw.namespace(ns, system))
    for _ in range(200):
        try:
            await b.kube.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default")
            break
        except ApiError:
            await asyncio.sleep(0.1)
    seen, stop = PodWatch(), asyncio.Event()
    watcher = asyncio.create_task(watch_pods(b.kube, ns, seen, stop))
    await asyncio.sleep(0.5)
    before = b.usage(system)
    sem = asyncio.Semaphore(b.conc)
    t0 = time.monotonic()

    async def one(i: int) -> None:
        async with sem:
            await b.kube.create(
                f"/api/v1/namespaces/{ns}/pods", plain_pod(f"p{i}", SCHEDULER_OF[system], gpu)
            )

    await asyncio.gather(*(one(i) for i in range(n)))
    created = time.monotonic() - t0
    done = await until(lambda: len(seen.bound) >= n, b.timeout)
    after = b.usage(system)
    stop.set()
    watcher.cancel()
    await ensure_namespace_gone(b.kube, ns)
    out: Obj = {"pods": n, "bound": len(seen.bound), "create_s": round(created, 2), "complete": done}
    if seen.bound:
        last = max(seen.bound.values())
        out["pods_per_s"] = round(len(seen.bound) / (last - t0), 1)
        out["last_bound_s"] = round(last - t0, 2)
    out["cpu_s"] = round(sum(a[0] - before.get(k, (0.0, 0.0))[0] for k, a in after.items()), 2)
    return out


# --- gangs, bursts and fairness on the translated workloads --------------------------------------------------
async def run_workload(
    b: Bench, system: str, w: pw.Workload, settle_s: float, want_running: int | None = None
) -> tuple[PodWatch, float, list[Obj], dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    objs = pw.translate(w, system)
    ns = w.namespace(system)
    await ensure_namespace_gone(b.kube, ns)
    seen, stop = PodWatch(), asyncio.Event()
    # The namespace first (the watch needs it), then the rest.
    await b.kube.create("/api/v1/namespaces", objs[0])
    watcher = asyncio.create_task(watch_pods(b.kube, ns, seen, stop))
    before = b.usage(system)
    setup, t0 = await submit(b.kube, objs[1:], b.conc)
    setup.insert(0, objs[0])
    total = sum(j.pods for j in w.jobs) if want_running is None else want_running
    await until(lambda: len(seen.running) >= total, b.timeout)
    # Gangs that cannot all run: let the systems settle (nothing new bound for settle_s).
    last = -1
    while settle_s and len(seen.bound) != last:
        last = len(seen.bound)
        await asyncio.sleep(settle_s)
    after = b.usage(system)
    stop.set()
    watcher.cancel()
    return seen, t0, setup, before, after


def charge(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> Obj:
    per = {k: round(a[0] - before.get(k, (0.0, 0.0))[0], 2) for k, a in after.items()}
    return {
        "cpu_s": round(sum(per.values()), 2),
        "cpu_s_by_process": per,
        "peak_rss_mib": round(sum(a[1] for a in after.values()), 1),
        "peak_rss_mib_by_process": {k: round(a[1], 1) for k, a in after.items()},
    }


async def p5(b: Bench, system: str, jobs: int) -> Obj:
    w = pw.burst(jobs)
    seen, t0, setup, before, after = await run_workload(b, system, w, settle_s=0)
    total = jobs * 4
    out: Obj = {"jobs": jobs, "pods_running": len(seen.running), "complete": len(seen.running) >= total}
    if seen.running:
        out["all_running_s"] = round(max(seen.running.values()) - t0, 2)
    out.update(charge(before, after))
    await cleanup(b.kube, [w.namespace(system)], setup)
    return out


async def b2(b: Bench, system: str, name: str, count: int, size: int, gpus: int, capacity: int) -> Obj:
    w = pw.gangs(name, count, size, gpus, capacity, GPU_NODES)
    fits = count if gpus == 0 else max(1, capacity // (size * gpus))
    want = min(count, fits) * size
    seen, t0, setup, before, after = await run_workload(b, system, w, settle_s=5, want_running=want)
    per_gang = seen.gang_bound()
    complete = [g for g, k in per_gang.items() if k >= size]
    partial = [g for g, k in per_gang.items() if 0 < k < size]
    done_at: dict[str, float] = {}
    for pod, t in seen.bound.items():
        g = seen.owner.get(pod, "?")
        done_at[g] = max(done_at.get(g, 0.0), t - t0)
    times = sorted(done_at[g] for g in complete)
    out: Obj = {
        "gangs": count,
        "size": size,
        "gpus_per_pod": gpus,
        "complete": len(complete),
        "partial": len(partial),
        "partial_pods": sum(per_gang[g] for g in partial),
        "p50_s": round(times[len(times) // 2], 2) if times else None,
        "max_s": round(times[-1], 2) if times else None,
        **charge(before, after),
    }
    await cleanup(b.kube, [w.namespace(system)], setup)
    return out


async def fair(b: Bench, system: str, guarantee: int) -> Obj:
    borrow, reclaim = pw.fairness(guarantee, 8, FAIR_NODES)
    ns = borrow.namespace(system)
    seen1, _t1, setup, _, _ = await run_workload(b, system, borrow, settle_s=3)
    borrowed = len(seen1.running)
    # Phase two: the lender's jobs, in the same namespace and queues.
    lender_jobs = [o for o in pw.translate(reclaim, system) if o["kind"] in ("AIJob", "Job")]
    seen, stop = PodWatch(), asyncio.Event()
    watcher = asyncio.create_task(watch_pods(b.kube, ns, seen, stop))
    await asyncio.sleep(0.5)
    _, t0 = await submit(b.kube, lender_jobs, b.conc)
    lender_names = {j.name for j in reclaim.jobs}
    want = sum(j.pods for j in reclaim.jobs)

    def lender_running() -> int:
        return sum(1 for p in seen.running if p in seen.alive and seen.owner.get(p) in lender_names)

    done = await until(lambda: lender_running() >= want, b.timeout)
    took = max((t for p, t in seen.running.items() if seen.owner.get(p) in lender_names), default=t0) - t0
    # The borrower's pods changed nothing this watch saw unless they were evicted: count them from a list.
    pods = (await b.kube.list(f"/api/v1/namespaces/{ns}/pods"))["items"]
    borrower_left = sum(
        1
        for p in pods
        if (p["status"] or {}).get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and any(o["name"].startswith("borrow") for o in p["metadata"].get("ownerReferences") or [])
    )
    stop.set()
    watcher.cancel()
    await cleanup(b.kube, [ns], setup)
    return {
        "guarantee_gpus": guarantee,
        "borrower_pods_running_before": borrowed,
        "lender_pods": want,
        "lender_running": lender_running(),
        "guarantee_back": done,
        "guarantee_back_s": round(took, 2) if done else None,
        "borrower_pods_left": borrower_left,
    }


# --- the run --------------------------------------------------------------------------------------------------
def ratio(mb: float | None, peer: float | None) -> str:
    if not mb or not peer:
        return "-"
    return f"{mb / peer:.2f}"


def table(results: Obj) -> str:
    rows = [
        "| scenario | metric | Motherboard | Kueue | Volcano | MB÷Kueue | MB÷Volcano |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario, by_system in results.items():
        if not isinstance(by_system, dict) or "motherboard" not in by_system:
            continue
        metric = next(
            (
                m
                for m in ("pods_per_s", "all_running_s", "max_s", "guarantee_back_s")
                if m in by_system["motherboard"]
            ),
            None,
        )
        if metric is None:
            continue
        vals = [by_system.get(s, {}).get(metric) for s in pw.SYSTEMS]
        rows.append(
            f"| {scenario} | {metric} | "
            + " | ".join("-" if v is None else str(v) for v in vals)
            + f" | {ratio(vals[0], vals[1])} | {ratio(vals[0], vals[2])} |"
        )
    return "\n".join(rows)


async def main_async(args: argparse.Namespace, dev: DevCluster, pids: dict[str, int]) -> Obj:
    access = load_access(dev.kubeconfig)
    async with Kube(access, connections=max(64, args.concurrency)) as kube:
        b = Bench(dev, kube, pids, args.concurrency, args.timeout)
        systems = [s for s in pw.SYSTEMS if s in args.systems]
        only = set(args.only)
        res: Obj = {}

        def record(key: str, system: str, value: Obj) -> None:
            res.setdefault(key, {})[system] = value
            print(f"[{key}] {system}: {json.dumps(value)}", file=sys.stderr, flush=True)

        if "b1" in only:
            for n in args.pods:
                for gpu in (False, True):
                    # One GPU each: no more pods than the profile's NVIDIA GPUs (384 in bench-100), or the rest
                    # wait for ever in every system alike.
                    m = min(n, args.gpu_pods) if gpu else n
                    for s in systems:
                        record(f"b1-{m}-{'gpu' if gpu else 'plain'}", s, await b1(b, s, m, gpu))
        if "b2" in only:
            for spec in args.gangs:
                count, size = (int(x) for x in spec.split("x"))
                for s in systems:
                    record(
                        f"b2-{spec}", s, await b2(b, s, f"g{count}x{size}", count, size, 0, args.gpu_capacity)
                    )
            pair = args.gpu_capacity * 3 // 4 // 8  # pods of 8 GPUs per gang: 2 gangs = 1.5x capacity
            for s in systems:
                record("b2-pair", s, await b2(b, s, "pair", 2, pair, 8, args.gpu_capacity))
        if "p5" in only:
            for s in systems:
                record(f"p5-{args.jobs}", s, await p5(b, s, args.jobs))
        if "fair" in only:
            for s in systems:
                record("fair", s, await fair(b, s, args.guarantee))
        return res


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _terminate(*_: object) -> None:
    """SIGTERM: clean up once; a second SIGTERM (``timeout`` forwards one too) must not cut the clean-up short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(143)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", type=Path, default=Path("profiles/bench-100.yaml"))
    parser.add_argument("--full", action="store_true", help="the issue's sizes (long: hours on 2 cores)")
    parser.add_argument(
        "--pods", type=int, nargs="+", default=None, help="B1 sizes [1000; --full: 1000 10000]"
    )
    parser.add_argument(
        "--gangs", nargs="+", default=None, help="B2 COUNTxSIZE [10x20 5x40; --full: 20x50 10x100]"
    )
    parser.add_argument("--jobs", type=int, default=None, help="P5 jobs of 4 pods [250; --full: 1000]")
    parser.add_argument("--guarantee", type=int, default=64, help="GPUs each fairness tenant is guaranteed")
    parser.add_argument("--gpu-pods", type=int, default=300, help="B1 GPU pods at most (the profile's GPUs)")
    parser.add_argument(
        "--gpu-capacity", type=int, default=256, help="GPUs on the B2 nodes (32 H100 nodes x 8)"
    )
    parser.add_argument(
        "--only", nargs="+", default=["b1", "b2", "p5", "fair"], choices=["b1", "b2", "p5", "fair"]
    )
    parser.add_argument("--systems", nargs="+", default=list(pw.SYSTEMS), choices=list(pw.SYSTEMS))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=600, help="seconds a phase may take")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.pods = args.pods or ([1000, 10000] if args.full else [1000])
    args.gangs = args.gangs or (["20x50", "10x100"] if args.full else ["10x20", "5x40"])
    args.jobs = args.jobs or (1000 if args.full else 250)
    signal.signal(signal.SIGTERM, _terminate)
    base = os.environ.get("MOTHERBOARD_STATE")
    state = Path(base) if base else Path(tempfile.mkdtemp(prefix="mb-peers-bench-"))
    dev = DevCluster(state / "dev-cluster" if base else state)
    started = time.monotonic()
    up = dev.up(
        ClusterProfile.load(args.profile),
        kube_scheduler=True,
        peers=("kueue", "volcano"),
        progress=lambda m: print(f"[cluster] {m}", file=sys.stderr, flush=True),
    )
    parts = [
        components.operator(dev.kubeconfig, dev.log_dir),
        components.scheduler(dev.kubeconfig, dev.log_dir),
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
        st = dev.load_state()
        assert st is not None
        pids = {name: rec.pid for name, rec in st.processes.items() if is_alive(rec)}
        for name, part in zip(("mb-operator", "mb-scheduler"), parts, strict=True):
            assert part.proc is not None
            pids[name] = part.proc.pid
        load_before = load()
        results = asyncio.run(main_async(args, dev, pids))
        doc = {
            "command": " ".join(sys.argv),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            "load_before": load_before,
            "load_after": load(),
            "profile": str(args.profile),
            "cluster_up_s": {k: round(v, 1) for k, v in up.seconds.items()},
            "sizes": {"pods": args.pods, "gangs": args.gangs, "jobs": args.jobs, "guarantee": args.guarantee},
            "wall_s": round(time.monotonic() - started, 1),
            "results": results,
        }
        text = json.dumps(doc, indent=2)
        print(text)
        print(table(results), file=sys.stderr)
        if args.out:
            args.out.write_text(text)
    finally:
        for part in reversed(parts):
            part.stop()
        dev.down()


if __name__ == "__main__":
    main()
