"""B0 (bind ceiling) and B1 (throughput, latency) for Motherboard and kube-scheduler on one dev cluster.

    motherboard dev-cluster up --state-dir /tmp/mb-bench --profile profiles/bench-500.yaml
    python bench/throughput_scheduler.py --kubeconfig /tmp/mb-bench/kubeconfig --pods 1000

Every phase runs on the same cluster in the same run, each in its own namespace (deleted, and its pods
gone, before the next phase starts):

* **B0 bind ceiling** — ``--pods`` pods for a scheduler nobody serves are created, then bound round-robin
  by a trivial binder (the same aiohttp client and ``--concurrency`` as Motherboard): how fast this API
  server accepts bindings at all. **B0k**: kube-scheduler with every Score plugin disabled, on a backlog.
* **B1 backlog** — ``--pods`` pending pods are created first, then the scheduler starts; bound pods/s
  from its first to its last binding (the drain rate, as B0), and from its start (list included).
* **B1 offered** — pods created at ``--rate`` pods/s while the scheduler runs: create→bound latency
  p50/p99 (client-side create completion → the watch event that shows ``nodeName``).
* ``--gpu``: the same with pods asking for one ``nvidia.com/gpu`` (only the GPU nodes fit).

kube-scheduler v1.35 (the cluster's binary) runs from a ``KubeSchedulerConfiguration`` with two profiles
(default plugins; scoring off) and client QPS ``--kube-qps`` (burst 2×); Motherboard runs with no QPS
limit and ``--concurrency`` calls in flight. Each scheduler process is started for its phase and stopped
after it; its CPU-seconds and peak RSS are read from ``/proc`` before it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motherboard.kube import ApiError, Kube, load_access

Obj = dict[str, Any]
TOLERATE_ALL = [{"operator": "Exists"}]
MB = "motherboard-scheduler"
KUBE = "bench-kube-scheduler"
KUBE_NOSCORE = "bench-kube-noscore"
K8S_BIN = Path.home() / ".cache/motherboard/k8s-v1.35.4/bin/kube-scheduler"
CLK_TCK = os.sysconf("SC_CLK_TCK")


PLAIN_CPU = {"cpu": "10m"}
"""What a plain pod requests (``--cpu``)."""


def pod(name: str, scheduler: str, gpu: bool = False, labels: Obj | None = None) -> Obj:
    resources: Obj = {"requests": dict(PLAIN_CPU)}
    if gpu:
        resources = {"requests": {"cpu": "100m"}, "limits": {"nvidia.com/gpu": "1"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "schedulerName": scheduler,
            "tolerations": TOLERATE_ALL,
            "containers": [{"name": "main", "image": "busybox", "resources": resources}],
        },
    }


# --- cluster helpers ----------------------------------------------------------------------------------------
async def namespace(kube: Kube, ns: str) -> None:
    await kube.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    )
    for _ in range(100):
        try:
            await kube.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default")
            return
        except ApiError:
            await asyncio.sleep(0.1)


async def drop_namespace(kube: Kube, ns: str, timeout: float = 600.0) -> None:
    """Delete the namespace and wait until it is gone, so the next phase does not pay for its cleanup."""
    try:
        await kube.delete(f"/api/v1/namespaces/{ns}")
    except ApiError as exc:
        if not exc.not_found:
            raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await kube.get(f"/api/v1/namespaces/{ns}")
        except ApiError as exc:
            if exc.not_found:
                return
        await asyncio.sleep(1.0)


async def create(
    kube: Kube, ns: str, pods: list[Obj], conc: int, created: dict[str, float], rate: float = 0.0
) -> None:
    """Create ``pods`` (``rate`` > 0: at that many per second, else as fast as ``conc`` calls allow)."""
    sem = asyncio.Semaphore(conc)
    start = time.monotonic()

    async def one(i: int, body: Obj) -> None:
        if rate > 0:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        async with sem:
            await kube.create(f"/api/v1/namespaces/{ns}/pods", body)
            created[body["metadata"]["name"]] = time.monotonic()

    await asyncio.gather(*(one(i, p) for i, p in enumerate(pods)))


async def watch_bound(kube: Kube, ns: str, version: str, n: int, bound: dict[str, float]) -> None:
    """Record when each pod of ``ns`` is first seen with ``nodeName``, until ``n`` are."""
    while len(bound) < n:
        async for event in kube.watch(f"/api/v1/namespaces/{ns}/pods", version, timeoutSeconds="600"):
            obj = event.get("object") or {}
            if event.get("type") == "BOOKMARK":
                continue
            version = obj["metadata"]["resourceVersion"]
            name = obj["metadata"]["name"]
            if (obj.get("spec") or {}).get("nodeName") and name not in bound:
                bound[name] = time.monotonic()
                if len(bound) >= n:
                    return


@dataclass
class Proc:
    """A scheduler process started for one phase (and ``spy``: py-spy sampling it, if asked)."""

    popen: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    spy: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0

    def scrape(self) -> Obj:
        """Motherboard's own view from ``/metrics``: mean bind-call latency and time per extension point."""
        if not self.metrics_port:
            return {}
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        sums: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("motherboard_scheduler_extension_point_duration_seconds_"):
                name, _, value = line.rpartition(" ")
                sums[name.split("seconds_", 1)[1]] = float(value)
        out: Obj = {}
        calls = sums.get('count{extension_point="bind"}', 0.0)
        if calls:
            out["bind_call_ms"] = 1000 * sums['sum{extension_point="bind"}'] / calls
        for point in ("heads", "admit", "place"):
            out[f"{point}_s"] = sums.get(f'sum{{extension_point="{point}"}}', 0.0)
        return out

    def usage(self) -> tuple[float, float]:
        """CPU-seconds (user + system) and peak RSS in MiB so far."""
        stat = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / CLK_TCK
        rss = 0.0
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
        return cpu, rss

    def stop(self) -> None:
        if self.spy is not None and self.spy.poll() is None:
            self.spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
            try:
                self.spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.spy.kill()
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def start_motherboard(kubeconfig: Path, conc: int, log: Path, src: Path | None = None, *extra: str) -> Proc:
    """The scheduler from this tree, or from ``src`` (another checkout's ``src/``: a baseline in the same run).

    ``MB_BENCH_CPROFILE=path``: run it under cProfile. ``MB_BENCH_PYSPY=path``: sample it with py-spy
    (``--format raw``, collapsed stacks; little overhead) from start to stop."""
    profile = os.environ.get("MB_BENCH_CPROFILE")
    with socket.socket() as sock:  # a free port for /metrics
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    wrap = ["-m", "cProfile", "-o", profile] if profile else []
    argv = [sys.executable, *wrap, "-m", "motherboard.scheduler.service", "run", f"--kubeconfig={kubeconfig}",
            "--no-leader-elect", f"--metrics-port={port}", "--health-port=0", f"--concurrency={conc}", "--qps=0",
            *extra]  # fmt: skip
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src.resolve()}{os.pathsep}{env.get('PYTHONPATH', '')}"
    out = log.open("ab")
    popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    proc = Proc(popen, metrics_port=port)
    spy_out = os.environ.get("MB_BENCH_PYSPY")
    if spy_out:
        spy = Path(sys.executable).with_name("py-spy")
        path = f"{spy_out}.{proc.popen.pid}.txt"
        argv = [str(spy), "record", "--pid", str(proc.popen.pid), "--format", "raw", "--rate", "200",
                "--nonblocking", "--output", path]  # fmt: skip
        proc.spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def start_kube_scheduler(kubeconfig: Path, qps: int, log: Path) -> Proc:
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig), "qps": qps, "burst": 2 * qps},
        "leaderElection": {"leaderElect": False},
        "profiles": [
            {"schedulerName": KUBE},
            {"schedulerName": KUBE_NOSCORE, "plugins": {"score": {"disabled": [{"name": "*"}]}}},
        ],
    }
    path = log.with_suffix(".yaml")
    path.write_text(json.dumps(config))  # JSON is YAML
    argv = [str(K8S_BIN), f"--config={path}", "--secure-port=0", "--v=1"]
    out = log.open("ab")
    return Proc(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))


# --- phases -------------------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return (
        ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))] if ordered else float("nan")
    )


async def b0(kube: Kube, ns: str, n: int, conc: int, one_node: bool = False) -> Obj:
    """The trivial binder; timed as its calls (``pods_per_s``) and, like the schedulers, from the first to
    the last binding seen by the same watch (``watched_per_s``), which runs during the calls.
    ``one_node``: every pod to the same node (as Motherboard's packing places small pods), else
    round-robin."""
    await namespace(kube, ns)
    await create(kube, ns, [pod(f"p{i}", "bench-nobody") for i in range(n)], conc, {})
    nodes = [x["metadata"]["name"] for x in (await kube.list("/api/v1/nodes"))["items"]]
    version = (await kube.list(f"/api/v1/namespaces/{ns}/pods", limit="1"))["metadata"]["resourceVersion"]
    bound: dict[str, float] = {}
    watching = asyncio.create_task(watch_bound(kube, ns, version, n, bound))
    sem = asyncio.Semaphore(conc)

    async def bind(i: int) -> None:
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": f"p{i}"},
                "target": {"kind": "Node", "name": nodes[0 if one_node else i % len(nodes)]}}  # fmt: skip
        async with sem:
            t = time.monotonic()
            await kube.create(f"/api/v1/namespaces/{ns}/pods/p{i}/binding", body)
            calls.append(time.monotonic() - t)

    calls: list[float] = []
    start = time.monotonic()
    await asyncio.gather(*(bind(i) for i in range(n)))
    took = time.monotonic() - start
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(watching, timeout=60)
    await drop_namespace(kube, ns)
    out: Obj = {"pods_per_s": n / took, "seconds": took, "bind_call_ms": 1000 * sum(calls) / len(calls)}
    if len(bound) >= 2:
        out["watched_per_s"] = len(bound) / (max(bound.values()) - min(bound.values()))
    return out


async def backlog(
    kube: Kube, ns: str, n: int, conc: int, scheduler: str, gpu: bool, start: Callable[[], Proc]
) -> Obj:
    """``n`` pending pods first, then the scheduler: its drain rate, CPU and RSS."""
    await namespace(kube, ns)
    await create(kube, ns, [pod(f"p{i}", scheduler, gpu) for i in range(n)], conc, {})
    version = (await kube.list(f"/api/v1/namespaces/{ns}/pods", limit="1"))["metadata"]["resourceVersion"]
    bound: dict[str, float] = {}
    watching = asyncio.create_task(watch_bound(kube, ns, version, n, bound))
    proc = start()
    try:
        try:
            await asyncio.wait_for(asyncio.shield(watching), timeout=max(300, n / 10))
        except TimeoutError:
            watching.cancel()
        cpu, rss = proc.usage()
        seen = await asyncio.to_thread(proc.scrape)
    finally:
        proc.stop()
    await drop_namespace(kube, ns)
    if len(bound) < 2:
        return {"bound": len(bound)}
    first, last = min(bound.values()), max(bound.values())
    return {
        "bound": len(bound),
        "pods_per_s": len(bound) / (last - first),
        "from_start_s": last - proc.started,
        "cpu_s": cpu,
        "cpu_s_per_1000": 1000 * cpu / len(bound),
        "peak_rss_mib": rss,
        **seen,
    }


async def offered(
    kube: Kube, ns: str, n: int, conc: int, scheduler: str, gpu: bool, rate: float, start: Callable[[], Proc]
) -> Obj:
    """Pods created at ``rate`` per second while the scheduler runs: create→bound latency."""
    await namespace(kube, ns)
    proc = start()
    try:
        await asyncio.sleep(5)  # start-up and the initial lists
        cpu0, _ = proc.usage()
        version = (await kube.list(f"/api/v1/namespaces/{ns}/pods", limit="1"))["metadata"]["resourceVersion"]
        created: dict[str, float] = {}
        bound: dict[str, float] = {}
        watching = asyncio.create_task(watch_bound(kube, ns, version, n, bound))
        t0 = time.monotonic()
        await create(kube, ns, [pod(f"p{i}", scheduler, gpu) for i in range(n)], conc, created, rate)
        offered_rate = n / (time.monotonic() - t0)
        try:
            await asyncio.wait_for(asyncio.shield(watching), timeout=120)
        except TimeoutError:
            watching.cancel()
        cpu, rss = proc.usage()
    finally:
        proc.stop()
    await drop_namespace(kube, ns)
    lat = [bound[k] - created[k] for k in bound if k in created]
    return {
        "bound": len(bound),
        "offered_per_s": offered_rate,
        "p50_s": percentile(lat, 0.50),
        "p99_s": percentile(lat, 0.99),
        "cpu_s_per_1000": 1000 * (cpu - cpu0) / max(1, len(bound)),
        "peak_rss_mib": rss,
    }


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def show(name: str, result: Obj) -> None:
    print(f"{name:34s}", {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, load(),
          flush=True)  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", type=Path, default=Path("/tmp/mb-bench/kubeconfig"))
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument(
        "--gpu-pods", type=int, default=600, help="GPU variant (the GPU nodes' capacity caps it)"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--cpu",
        default="10m",
        help="CPU a plain pod requests (the 10,000-pod run uses 1100m: no node then fits more than 110 pods, "
        "its allocatable pods, which Motherboard does not check)",
    )
    parser.add_argument("--kube-qps", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="offered load, pods/s")
    parser.add_argument("--offered-pods", type=int, default=1000)
    parser.add_argument("--phases", default="b0,b0k,mb,kube,mb-gpu,kube-gpu,mb-rate,kube-rate")
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp/mb-bench-logs"))
    parser.add_argument(
        "--base-src",
        type=Path,
        help="another checkout's src/ for the mb-base phase (e.g. `git archive HEAD src | tar -x -C /tmp/base`)",
    )
    parser.add_argument("--mb-args", default="", help="extra arguments for Motherboard (space-separated)")
    args = parser.parse_args()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    PLAIN_CPU["cpu"] = args.cpu
    phases = args.phases.split(",")
    n, conc, tag = args.pods, args.concurrency, os.getpid()

    extra = args.mb_args.split()

    def mb() -> Proc:
        return start_motherboard(args.kubeconfig, conc, args.log_dir / "motherboard.log", None, *extra)

    def mb_base() -> Proc:
        return start_motherboard(args.kubeconfig, conc, args.log_dir / "motherboard-base.log", args.base_src)

    def ks() -> Proc:
        return start_kube_scheduler(args.kubeconfig, args.kube_qps, args.log_dir / "kube-scheduler.log")

    async with Kube(load_access(args.kubeconfig), connections=conc + 8) as kube:
        nodes = len((await kube.list("/api/v1/nodes"))["items"])
        print(f"nodes={nodes} pods={n} (cpu {args.cpu}) motherboard: qps=unlimited concurrency={conc}; "
              f"kube-scheduler: qps={args.kube_qps} burst={2 * args.kube_qps}; {load()}", flush=True)  # fmt: skip
        runs: dict[str, Callable[[], Any]] = {
            "b0": lambda: b0(kube, f"b0-{tag}", n, conc),
            "b0-one": lambda: b0(kube, f"b0o-{tag}", n, conc, one_node=True),
            "b0k": lambda: backlog(kube, f"b0k-{tag}", n, conc, KUBE_NOSCORE, False, ks),
            "mb": lambda: backlog(kube, f"mb-{tag}", n, conc, MB, False, mb),
            "mb-base": lambda: backlog(kube, f"mbb-{tag}", n, conc, MB, False, mb_base),
            "mb-base-gpu": lambda: backlog(kube, f"mbbg-{tag}", args.gpu_pods, conc, MB, True, mb_base),
            "kube": lambda: backlog(kube, f"kube-{tag}", n, conc, KUBE, False, ks),
            "mb-gpu": lambda: backlog(kube, f"mbg-{tag}", args.gpu_pods, conc, MB, True, mb),
            "kube-gpu": lambda: backlog(kube, f"kubeg-{tag}", args.gpu_pods, conc, KUBE, True, ks),
            "mb-rate": lambda: offered(kube, f"mbr-{tag}", args.offered_pods, conc, MB, False, args.rate, mb),
            "kube-rate": lambda: offered(kube, f"kuber-{tag}", args.offered_pods, conc, KUBE, False, args.rate, ks),
        }  # fmt: skip
        for phase in phases:
            show(phase, await runs[phase]())


if __name__ == "__main__":
    asyncio.run(main())
