"""Model serving on the dev cluster's real node: Model applied → first replica serving, cold and warm;
autoscaling after a 4× load step; a version rollout under steady load.

One run, one cluster (a real kubelet node at edge-east; the operator serving models from its artifact
endpoint on the node's bridge; Motherboard's scheduler), the model PaddleOCR's text-direction classifier
from the ``rapidocr-onnxruntime`` wheel (ONNX Runtime backend; ``--backends tvm`` compiles with TVM instead, and
``--trials N`` tunes it, in the compile jobs and the baseline alike):

- **cold**: a new Model + an Inference AIJob → compile job on the real node → artifact → replica Ready;
- **warm**: the same file as a Model in another namespace: the artifact is in the store, no compile job;
- **compile on start** (the baseline): a plain pod on the real node that compiles the model itself
  (``motherboard model compile``) and then serves it (``runtime serve``), until Ready;
- **autoscaling**: 1 closed-loop client, then 4 (the step), with ``targetInFlight: 1``, min 1, max 4: time
  from the step until the new replicas are Ready and in the Service, and the requests per second before
  and after;
- **rollout**: a steady open-loop rate (``--rate``, default 50 requests/s) while version 2 rolls out over
  2 replicas: requests sent, failed (must be 0), p50/p99 latency.

Usage (root; one real node per machine)::

    .venv/bin/python bench/model_serving.py [--rate 50] [--output bench-model-serving.json]
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from motherboard import __version__  # noqa: E402
from motherboard.api.constants import GROUP, VERSION  # noqa: E402
from motherboard.demo.components import Component  # noqa: E402
from motherboard.devcluster import images, realnode  # noqa: E402
from motherboard.devcluster.build import ensure_binaries  # noqa: E402
from motherboard.devcluster.cluster import DevCluster  # noqa: E402
from motherboard.devcluster.health import free_ports  # noqa: E402
from motherboard.devcluster.profile import ClusterProfile  # noqa: E402
from motherboard.models.zoo import wheel_model  # noqa: E402
from motherboard.runtime.reach import wait_until_serving  # noqa: E402

NODE = realnode.node_name(0)
ON_NODE: dict[str, Any] = {
    "nodeSelector": {"kubernetes.io/hostname": NODE},
    "tolerations": [{"operator": "Exists"}],
}
PROFILE = {
    "kind": "ClusterProfile", "name": "model-serving-bench",
    "sites": [
        {"name": "central", "kind": "central", "region": "r1", "nodeGroups": [{"name": "cpu", "count": 0, "cpu": 8, "memoryGiB": 32}]},
        {"name": "edge-east", "kind": "edge", "region": "r2", "nodeGroups": [{"name": "cpu", "count": 0, "cpu": 8, "memoryGiB": 32}]},
    ],
    "realNodes": {"count": 1, "site": "edge-east"},
}  # fmt: skip
WORKERS = 16
"""Request threads of the rollout's open-loop load (100/s at ~10 ms each needs a few; the rest absorb stalls)."""
X = np.random.default_rng(0).random((1, 3, 48, 192), dtype=np.float32)


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


class Bench:
    def __init__(self, root: Path, backends: list[str], trials: int = 0) -> None:
        self.root, self.backends, self.trials = root, backends, trials
        self.bins = ensure_binaries(log, real_nodes=True)
        self.dev = DevCluster(root / "cluster")
        self.parts: list[Component] = []

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run([str(self.bins.kubectl), f"--kubeconfig={self.dev.kubeconfig}", *args],
                              input=stdin, capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])}: {done.stderr}")
        return done.stdout

    def get(self, kind: str, ns: str, name: str) -> dict[str, Any]:
        out = self.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
        return json.loads(out) if out else {}

    def up(self) -> None:
        self.dev.up(ClusterProfile.model_validate(PROFILE), progress=log, bins=self.bins)
        images.import_image(images.project_image(log), realnode.ctr(), log)
        self.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        self.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        (port,) = free_ports(1)
        operator = Component("operator", [
            "operator", "run", f"--kubeconfig={self.dev.kubeconfig}", "--metrics-port=0", "--health-port=0",
            "--no-leader-elect", f"--artifact-port={port}", f"--artifact-dir={self.root / 'artifacts'}",
            f"--artifact-url=http://{realnode.BRIDGE_IP}:{port}", f"--compile-pod-overrides={json.dumps(ON_NODE)}",
        ], self.root / "operator.log", {})  # fmt: skip
        scheduler = Component("scheduler", ["scheduler", "run", f"--kubeconfig={self.dev.kubeconfig}",
                              "--metrics-port=0", "--health-port=0", "--no-leader-elect"], self.root / "scheduler.log")  # fmt: skip
        for part in (operator, scheduler):
            part.start()
            self.parts.append(part)

    def down(self) -> None:
        for part in self.parts:
            part.stop()
        self.dev.down(progress=log)

    def namespace(self) -> str:
        ns = f"bench-{uuid.uuid4().hex[:6]}"
        self.kubectl("create", "namespace", ns)
        wait(lambda: "default" in self.kubectl("get", "sa", "-n", ns, check=False), 60)
        return ns

    def model(self, ns: str, versions: list[tuple[int, Path]]) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Model", "metadata": {"name": "ocr", "namespace": ns},
                "spec": {"versions": [{"version": v, "source": {"uri": f"file://{p}"}} for v, p in versions],
                         "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3, 48, 192]}],
                         "compile": {"backends": self.backends, "tuningTrials": self.trials}}}  # fmt: skip
        self.kubectl("apply", "-f", "-", stdin=json.dumps(body))

    def job(self, ns: str, replicas: int, **task: Any) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AIJob", "metadata": {"name": "ocr-svc", "namespace": ns},
                "spec": {"type": "Inference", "tasks": [{"name": "serve", "replicas": replicas, "model": {"name": "ocr"},
                                                          "template": {"spec": ON_NODE}, **task}]}}  # fmt: skip
        self.kubectl("apply", "-f", "-", stdin=json.dumps(body))

    def serving(self, ns: str) -> dict[str, Any]:
        return ((self.get("aij", ns, "ocr-svc").get("status") or {}).get("serving") or [{}])[0]

    def ready(self, ns: str) -> int:
        return sum(v.get("ready", 0) for v in self.serving(ns).get("versions") or [])

    def url(self, ns: str) -> str:
        """The Service's address, once it reaches a replica (kube-proxy programs it a moment after its endpoints)."""
        url = f"{self.get('svc', ns, 'ocr-svc')['spec']['clusterIP']}:8000"
        wait_until_serving(url)
        return url


def wait(check: Callable[[], object], timeout: float, poll: float = 0.2) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout}s")
        time.sleep(poll)
    return time.monotonic() - started


def infer(url: str) -> float:
    import tritonclient.http as thttp

    with thttp.InferenceServerClient(url, network_timeout=30) as triton:
        tensor = thttp.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        started = time.perf_counter()
        triton.infer("ocr", [tensor])
        return time.perf_counter() - started


def cold_and_warm(bench: Bench) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in ("cold", "warm"):
        ns = bench.namespace()
        started = time.monotonic()
        bench.model(ns, [(1, wheel_model("ocr-cls"))])
        bench.job(ns, 1)
        wait(lambda ns=ns: bench.ready(ns) >= 1, 900, poll=0.5)
        took = time.monotonic() - started
        compiles = [
            line
            for line in bench.kubectl("get", "aij", "-n", ns, "-o", "name").splitlines()
            if "compile-" in line
        ]
        out[label] = {"seconds": round(took, 1), "compile_jobs": len(compiles)}
        log(f"{label}: Model applied → replica serving in {took:.1f}s ({len(compiles)} compile job(s))")
        bench.kubectl("delete", "namespace", ns, "--wait=false")
    return out


def compile_on_start(bench: Bench) -> dict[str, Any]:
    """The baseline: a replica that compiles its model when it starts, then serves it."""
    ns = bench.namespace()
    source = wheel_model("ocr-cls")
    bench.kubectl("create", "configmap", "src", "-n", ns, f"--from-file=model.onnx={source}")
    script = (
        "python3 -m motherboard.cli model compile /src/model.onnx -t cpu-x86_64 -o /models/ocr/1 --store /tmp/store "
        f"-i x:FP32:-1,3,48,192 {' '.join('-b ' + b for b in bench.backends)} --trials {bench.trials} && "
        "exec python3 -m motherboard.cli runtime serve --repository /models"
    )
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "compile-on-start", "namespace": ns},
           "spec": {**ON_NODE, "schedulerName": "motherboard-scheduler", "containers": [{"name": "serve", "image": images.PROJECT_ALIAS_REPOS[0] + ":" + __version__,
                    "imagePullPolicy": "Never", "command": ["sh", "-c", script],
                    "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8000}, "periodSeconds": 1},
                    "volumeMounts": [{"name": "src", "mountPath": "/src"}, {"name": "models", "mountPath": "/models"}]}],
                    "volumes": [{"name": "src", "configMap": {"name": "src"}}, {"name": "models", "emptyDir": {}}]}}  # fmt: skip
    started = time.monotonic()
    bench.kubectl("apply", "-f", "-", stdin=json.dumps(pod))

    def ready() -> bool:
        status = bench.get("pod", ns, "compile-on-start").get("status") or {}
        return any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )

    wait(ready, 900, poll=0.5)
    took = time.monotonic() - started
    log(f"compile on start: pod created → Ready in {took:.1f}s")
    bench.kubectl("delete", "namespace", ns, "--wait=false")
    return {"seconds": round(took, 1)}


def closed_loop(url: str, clients: int, stop: threading.Event, counts: list[float]) -> list[threading.Thread]:
    def run() -> None:
        while not stop.is_set():
            try:
                infer(url)
                counts.append(time.monotonic())
            except Exception:  # counted as missing throughput; failures are measured in the rollout
                time.sleep(0.05)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads


def autoscaling(bench: Bench) -> dict[str, Any]:
    ns = bench.namespace()
    bench.model(ns, [(1, wheel_model("ocr-cls"))])
    bench.job(
        ns,
        1,
        autoscaling={"minReplicas": 1, "maxReplicas": 4, "targetInFlight": 1, "scaleDownDelaySeconds": 20},
    )
    wait(lambda: bench.ready(ns) >= 1, 900, poll=0.5)
    url = bench.url(ns)
    stop, counts = threading.Event(), []
    threads = closed_loop(url, 1, stop, counts)
    time.sleep(15)
    before = sum(1 for t in counts if t > time.monotonic() - 10) / 10
    step = time.monotonic()
    threads += closed_loop(url, 3, stop, counts)
    target = None
    try:
        wait(lambda: bench.serving(ns).get("desiredReplicas", 1) > 1, 120, poll=0.25)
        decided = time.monotonic() - step
        target = bench.serving(ns)["desiredReplicas"]
        wait(lambda: bench.ready(ns) >= target, 300, poll=0.25)
        serving = time.monotonic() - step
        time.sleep(10)
        after = sum(1 for t in counts if t > time.monotonic() - 10) / 10
    finally:
        stop.set()
        for t in threads:
            t.join(35)
    down = wait(
        lambda: bench.serving(ns).get("desiredReplicas", 1) == 1 and bench.ready(ns) == 1, 300, poll=1
    )
    log(f"autoscaling: 1→4 clients: {target} replicas decided in {decided:.1f}s, serving in {serving:.1f}s; "
        f"{before:.1f} → {after:.1f} req/s; back to 1 replica {down:.0f}s after the load stopped")  # fmt: skip
    bench.kubectl("delete", "namespace", ns, "--wait=false")
    return {"replicas": target, "decided_s": round(decided, 1), "serving_s": round(serving, 1),
            "rps_before": round(before, 1), "rps_after": round(after, 1), "scale_down_s": round(down, 0)}  # fmt: skip


def rollout(bench: Bench, rate: float) -> dict[str, Any]:
    import onnx

    ns = bench.namespace()
    bench.model(ns, [(1, wheel_model("ocr-cls"))])
    bench.job(ns, 2)
    wait(lambda: bench.ready(ns) >= 2, 900, poll=0.5)
    url = bench.url(ns)
    graph = onnx.load(str(wheel_model("ocr-cls")))
    graph.doc_string = "version 2"
    v2 = bench.root / "ocr-v2.onnx"
    onnx.save(graph, str(v2))
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()
    tickets: queue.Queue[float | None] = queue.Queue()

    def worker() -> None:
        # A fixed pool, not a thread per request (which starved the generator at 100/s on 2 cores). Each
        # request opens its own connection, as independent clients do, so kube-proxy spreads them over the
        # replicas and none is pinned to a replica being replaced.
        while (due := tickets.get()) is not None:
            try:
                infer(url)
                latencies.append(time.monotonic() - due)  # open loop: from when it was due, queueing included
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")

    def pace() -> None:
        interval, next_at = 1 / rate, time.monotonic()
        while not stop.is_set():
            tickets.put(next_at)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    for w in workers:
        w.start()
    pacer = threading.Thread(target=pace, daemon=True)
    pacer.start()
    time.sleep(5)
    started = time.monotonic()
    bench.model(ns, [(1, wheel_model("ocr-cls")), (2, v2)])
    took = wait(lambda: bench.serving(ns).get("rolledOutVersion") == 2, 900, poll=0.5)
    time.sleep(5)
    stop.set()
    pacer.join(60)
    for _ in workers:
        tickets.put(None)
    for w in workers:
        w.join(60)
    lat = sorted(latencies)
    result = {"rate": rate, "sent": len(lat) + len(failures), "failed": len(failures), "rollout_s": round(took, 1),
              "p50_ms": round(1000 * lat[len(lat) // 2], 1), "p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 1),
              "first_failures": failures[:3]}  # fmt: skip
    log(f"rollout at {rate}/s: {result}")
    del started
    bench.kubectl("delete", "namespace", ns, "--wait=false")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--backends", default="onnxruntime")
    parser.add_argument(
        "--trials", type=int, default=0, help="TVM tuning trials, for the compile jobs and the baseline alike"
    )
    parser.add_argument("--output", type=Path, default=Path("bench-model-serving.json"))
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: baseline,autoscaling,rollout"
    )
    args = parser.parse_args()
    import os
    import tempfile

    skip = set(filter(None, args.skip.split(",")))
    bench = Bench(
        Path(tempfile.mkdtemp(prefix="bench-model-serving-")), args.backends.split(","), args.trials
    )
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "load_before": os.getloadavg()[0]}
    bench.up()
    try:
        results.update(cold_and_warm(bench))
        if "baseline" not in skip:
            results["compile_on_start"] = compile_on_start(bench)
            results["warm_vs_compile_on_start"] = round(
                results["compile_on_start"]["seconds"] / results["warm"]["seconds"], 1
            )
        if "autoscaling" not in skip:
            results["autoscaling"] = autoscaling(bench)
        if "rollout" not in skip:
            results["rollout"] = rollout(bench, args.rate)
    finally:
        results["load_after"] = os.getloadavg()[0]
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        log(f"results → {args.output}")
        bench.down()


if __name__ == "__main__":
    main()
