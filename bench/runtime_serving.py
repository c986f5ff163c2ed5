"""Serving benchmark: Motherboard's runtime vs KServe's ModelServer vs Ray Serve vs onnxruntime in-process.

Closed-loop load from ``tritonclient`` (HTTP with the binary tensor extension, and gRPC) at several
concurrencies; each cell runs 5 s windows until the last three agree within 10 % on throughput
(perf_analyzer's stability rule; perf_analyzer itself needs glibc >= 2.38 and does not run here), at most
``--max-windows`` windows. Reported per cell: throughput, p50/p99 latency over the three stable windows, and
server CPU per request (user+system of the server process tree, from psutil).

Models: the small MLP of the runtime tests (16→32→8, dynamic batch) and a real CNN, PaddleOCR's text
direction classifier ``ch_ppocr_mobile_v2.0_cls_infer.onnx`` (input 1×3×48×192) taken from the
``rapidocr-onnxruntime==1.4.4`` wheel on PyPI (downloaded with ``pip download --no-deps`` into
``~/.cache/motherboard/wheels``; no model hub).

Peers run from their own virtual environment (``~/.cache/motherboard/bench-peers-venv``: kserve and
ray[serve] conflict with the project's pins), created with::

    python -m venv ~/.cache/motherboard/bench-peers-venv
    ~/.cache/motherboard/bench-peers-venv/bin/pip install kserve==0.21.0 "ray[serve]" onnxruntime \\
        "tritonclient[http,grpc]" numpy

Usage::

    .venv/bin/python bench/runtime_serving.py                      # everything (~20 min on 2 cores)
    .venv/bin/python bench/runtime_serving.py --servers motherboard,inprocess --concurrency 1
    .venv/bin/python bench/runtime_serving.py --batching-only

Everything listens on 127.0.0.1 only. The load generator shares the machine with the server (on a 2-core
box that matters; the report says so).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CACHE = Path.home() / ".cache" / "motherboard"
PEERS_VENV = CACHE / "bench-peers-venv"
WHEEL = "rapidocr-onnxruntime==1.4.4"
CLS_MEMBER = "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
CLS_MODEL = CACHE / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ModelCase:
    name: str
    path: Path
    input_name: str
    output_name: str
    shape: tuple[int, ...]


@dataclass
class Cell:
    server: str
    model: str
    protocol: str
    concurrency: int
    throughput: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms_per_request: float = 0.0
    windows: list[float] = field(default_factory=list)
    stable: bool = False
    errors: int = 0
    note: str = ""


# --- models --------------------------------------------------------------------------------------


def cls_model() -> Path:
    """Extract the OCR direction classifier from the rapidocr wheel (downloaded once, from PyPI)."""
    if CLS_MODEL.exists():
        return CLS_MODEL
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob("rapidocr_onnxruntime-1.4.4-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(wheels)],
            check=True,
            timeout=600,
        )
        found = sorted(wheels.glob("rapidocr_onnxruntime-1.4.4-*.whl"))
    CLS_MODEL.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as wheel:
        CLS_MODEL.write_bytes(wheel.read(CLS_MEMBER))
    return CLS_MODEL


def prepare_models(root: Path) -> dict[str, ModelCase]:
    from tests.unit.runtime import onnx_models as om

    mlp = om.mlp(root / "src" / "mlp.onnx", seed=1)
    cnn = cls_model()
    return {
        "mlp": ModelCase("mlp", mlp, "x", "y", (1, 16)),
        "cnn": ModelCase("cnn", cnn, "x", "save_infer_model/scale_0.tmp_1", (1, 3, 48, 192)),
    }


def motherboard_repository(root: Path, models: dict[str, ModelCase]) -> Path:
    """The runtime's repository: each model with the default config, plus batching on/off variants."""
    repo = root / "repo"
    for case in models.values():
        for name, config in (
            (case.name, None),
            (
                f"{case.name}_batch",
                {"max_batch_size": 16, "dynamic_batching": {"max_queue_delay_microseconds": 1000}},
            ),
            (f"{case.name}_nobatch", {"max_batch_size": 16}),
        ):
            (repo / name / "1").mkdir(parents=True, exist_ok=True)
            shutil.copy(case.path, repo / name / "1" / "model.onnx")
            if config is not None:
                (repo / name / "config.json").write_text(json.dumps(config))
    return repo


# --- servers -------------------------------------------------------------------------------------


@dataclass
class Running:
    name: str
    proc: subprocess.Popen[bytes] | None
    http: int | None
    grpc: int | None

    def cpu_seconds(self) -> float:
        if self.proc is None:
            return 0.0
        try:
            root = psutil.Process(self.proc.pid)
            total = 0.0
            for p in [root, *root.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    continue
            return total
        except psutil.Error:
            return 0.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def motherboard_server(repo: Path, log: Path) -> Iterator[Running]:
    args = [
        sys.executable, "-m", "motherboard.cli", "runtime", "serve", "--repository", str(repo),
        "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0", "--metrics-port", "-1",
    ]  # fmt: skip
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    ports: dict[str, Any] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line = proc.stdout.readline()
            if line.startswith(b"{"):
                ports = json.loads(line)
                break
    if not ports:
        _stop(proc)
        raise RuntimeError(f"motherboard did not start: {log.read_text()[-2000:]}")
    try:
        yield Running("motherboard", proc, ports["http"], ports["grpc"])
    finally:
        _stop(proc)


KSERVE_SCRIPT = """
import sys, json
import onnxruntime as ort
from kserve import Model, ModelServer, InferRequest, InferResponse, InferOutput

class OrtModel(Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path = path
        self.load()

    def load(self):
        self.session = ort.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        x = payload.inputs[0].as_numpy()
        y = self.session.run([self.output_name], {self.input_name: x})[0]
        out = InferOutput(name=self.output_name, shape=list(y.shape), datatype="FP32")
        out.set_data_from_numpy(y, binary_data=True)
        return InferResponse(model_name=self.name, infer_outputs=[out], response_id=payload.id,
                             use_binary_outputs=True)

models = json.loads(sys.argv[1])
ModelServer(http_port=int(sys.argv[2]), grpc_port=int(sys.argv[3]), workers=1).start(
    [OrtModel(name, path) for name, path in models.items()])
"""

RAY_SCRIPT = """
import sys, json, time
import numpy as np
import onnxruntime as ort
import ray
from ray import serve
from fastapi import FastAPI, Request, Response

def make_app(name, path):
    app = FastAPI()

    @serve.deployment(max_ongoing_requests=64)
    @serve.ingress(app)
    class V2Model:
        def __init__(self):
            self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            self.input_name = self.session.get_inputs()[0].name
            self.output_name = self.session.get_outputs()[0].name

        @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.001)
        async def run(self, xs):
            rows = [x.shape[0] for x in xs]
            y = self.session.run([self.output_name], {self.input_name: np.concatenate(xs)})[0]
            out, start = [], 0
            for r in rows:
                out.append(y[start:start + r]); start += r
            return out

        @app.post("/infer")
        async def infer(self, request: Request) -> Response:
            body = await request.body()
            length = int(request.headers.get("inference-header-content-length", len(body)))
            head = json.loads(body[:length])
            spec = head["inputs"][0]
            if "data" in spec:
                x = np.asarray(spec["data"], dtype=np.float32).reshape(spec["shape"])
            else:
                x = np.frombuffer(body[length:], dtype=np.float32).reshape(spec["shape"])
            y = await self.run(x)
            raw = y.astype(np.float32).tobytes()
            doc = {"model_name": name, "model_version": "1", "outputs": [{"name": self.output_name,
                   "datatype": "FP32", "shape": list(y.shape), "parameters": {"binary_data_size": len(raw)}}]}
            header = json.dumps(doc).encode()
            return Response(content=header + raw, media_type="application/octet-stream",
                            headers={"Inference-Header-Content-Length": str(len(header))})

    return V2Model.bind()

models = json.loads(sys.argv[1])
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[2])})
for name, path in models.items():
    serve.run(make_app(name, path), name=name, route_prefix=f"/v2/models/{name}")
print("READY", flush=True)
while True:
    time.sleep(3600)
"""


def _peer_python() -> Path:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"peer venv missing: create {PEERS_VENV} (see this file's docstring)")
    return python


def _wait_for_infer(http_port: int, case: ModelCase, proc: subprocess.Popen[bytes], log: Path) -> None:
    import tritonclient.http as thttp

    deadline = time.monotonic() + START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited: {log.read_text()[-3000:]}")
        try:
            client = thttp.InferenceServerClient(f"127.0.0.1:{http_port}", network_timeout=30)
            tensor = thttp.InferInput(case.input_name, list(case.shape), "FP32")
            tensor.set_data_from_numpy(np.zeros(case.shape, dtype=np.float32))
            client.infer(case.name, [tensor], outputs=[thttp.InferRequestedOutput(case.output_name)])
            client.close()
            return
        except Exception as exc:
            last = exc
            time.sleep(1.0)
    raise RuntimeError(f"peer not serving after {START_TIMEOUT_S}s: {last}; {log.read_text()[-2000:]}")


@contextmanager
def peer_server(kind: str, models: dict[str, ModelCase], workdir: Path) -> Iterator[Running]:
    script = workdir / f"{kind}_server.py"
    script.write_text(textwrap.dedent(KSERVE_SCRIPT if kind == "kserve" else RAY_SCRIPT))
    http, grpc = _free_port(), _free_port()
    spec = json.dumps({name: str(case.path) for name, case in models.items()})
    log = workdir / f"{kind}.log"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    env.pop("VIRTUAL_ENV", None)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(_peer_python()), str(script), spec, str(http), str(grpc)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=workdir,
        )
    try:
        for case in models.values():
            _wait_for_infer(http, case, proc, log)
        yield Running(kind, proc, http, grpc if kind == "kserve" else None)
    finally:
        _stop(proc)
        if kind == "ray":  # ray's own daemons outlive the driver's process group when it is killed
            subprocess.run(
                [str(PEERS_VENV / "bin" / "ray"), "stop", "--force"],
                check=False,
                capture_output=True,
                timeout=120,
            )


# --- load --------------------------------------------------------------------------------------------


def _client_call(protocol: str, port: int, case: ModelCase, model: str) -> Callable[[], None]:
    x = np.random.default_rng(0).standard_normal(case.shape).astype(np.float32)
    if protocol == "grpc":
        import tritonclient.grpc as tgrpc

        gclient = tgrpc.InferenceServerClient(f"127.0.0.1:{port}")
        gtensor = tgrpc.InferInput(case.input_name, list(case.shape), "FP32")
        gtensor.set_data_from_numpy(x)
        goutputs = [tgrpc.InferRequestedOutput(case.output_name)]

        def grpc_call() -> None:
            result = gclient.infer(model, [gtensor], outputs=goutputs, client_timeout=60)
            assert result.as_numpy(case.output_name) is not None

        return grpc_call
    import tritonclient.http as thttp

    hclient = thttp.InferenceServerClient(f"127.0.0.1:{port}", network_timeout=60, connection_timeout=60)
    htensor = thttp.InferInput(case.input_name, list(case.shape), "FP32")
    htensor.set_data_from_numpy(x, binary_data=True)
    houtputs = [thttp.InferRequestedOutput(case.output_name, binary_data=True)]

    def http_call() -> None:
        result = hclient.infer(model, [htensor], outputs=houtputs)
        assert result.as_numpy(case.output_name) is not None

    return http_call


def _inprocess_call(case: ModelCase) -> Callable[[], None]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(case.path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal(case.shape).astype(np.float32)

    def call() -> None:
        session.run([case.output_name], {case.input_name: x})

    return call


def measure(
    cell: Cell,
    make_call: Callable[[], Callable[[], None]],
    running: Running | None,
    window_s: float,
    max_windows: int,
) -> Cell:
    """Closed loop: ``cell.concurrency`` threads, each with its own client, until three windows agree."""
    # Each thread builds its own client: tritonclient's HTTP client is gevent-based and must stay on the
    # thread that created it (a client moved across threads fails its first request there).
    latencies: list[list[float]] = [[] for _ in range(cell.concurrency)]
    errors = [0]
    stop = threading.Event()
    ready = threading.Barrier(cell.concurrency + 1, timeout=300)

    def loop(i: int) -> None:
        call = make_call()
        for _ in range(3):  # warm-up: connection, session, first-request costs
            call()
        ready.wait()
        mine = latencies[i]
        while not stop.is_set():
            start = time.perf_counter()
            try:
                call()
            except Exception:
                errors[0] += 1
                continue
            mine.append(time.perf_counter() - start)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(cell.concurrency)]
    for t in threads:
        t.start()
    ready.wait()
    windows: list[tuple[float, list[float], float]] = []
    try:
        for _ in range(max_windows):
            marks = [len(lat) for lat in latencies]
            cpu0 = running.cpu_seconds() if running else 0.0
            time.sleep(window_s)
            cpu1 = running.cpu_seconds() if running else 0.0
            samples = [s for lat, m in zip(latencies, marks, strict=True) for s in lat[m:]]
            windows.append((len(samples) / window_s, samples, cpu1 - cpu0))
            if len(windows) >= 3:
                last = [w[0] for w in windows[-3:]]
                mean = sum(last) / 3
                if mean > 0 and (max(last) - min(last)) / mean <= 0.10:
                    cell.stable = True
                    break
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    chosen = windows[-3:]
    pooled = np.array([s for w in chosen for s in w[1]])
    requests = sum(len(w[1]) for w in chosen)
    cell.windows = [round(w[0], 1) for w in windows]
    cell.throughput = sum(w[0] for w in chosen) / len(chosen)
    if pooled.size:
        cell.p50_ms = float(np.percentile(pooled, 50) * 1e3)
        cell.p95_ms = float(np.percentile(pooled, 95) * 1e3)
        cell.p99_ms = float(np.percentile(pooled, 99) * 1e3)
    cell.cpu_ms_per_request = (sum(w[2] for w in chosen) / requests * 1e3) if requests and running else 0.0
    cell.errors = errors[0]
    return cell


# --- main -------------------------------------------------------------------------------------------


def _print(cell: Cell) -> None:
    print(
        f"{cell.server:12s} {cell.model:12s} {cell.protocol:5s} c={cell.concurrency:<3d} "
        f"{cell.throughput:9.1f}/s p50 {cell.p50_ms:7.2f} ms p95 {cell.p95_ms:7.2f} ms p99 {cell.p99_ms:7.2f} ms "
        f"cpu {cell.cpu_ms_per_request:6.2f} ms/req  windows {cell.windows}{'' if cell.stable else ' UNSTABLE'}"
        f"{f' errors {cell.errors}' if cell.errors else ''}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", default="inprocess,motherboard,kserve,ray")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--protocols", default="http,grpc")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--max-windows", type=int, default=6)
    parser.add_argument("--batching-concurrency", type=int, default=16)
    parser.add_argument("--batching-only", action="store_true")
    parser.add_argument("--no-batching", action="store_true", help="skip the batching on/off comparison")
    parser.add_argument("--output", type=Path, default=CACHE / "bench-runtime-serving.json")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the servers this run started are stopped (a background job ignores
    # SIGINT).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    servers = args.servers.split(",")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    protocols = args.protocols.split(",")
    cells: list[Cell] = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    models = {k: v for k, v in prepare_models(workdir).items() if k in args.models.split(",")}
    print(f"machine: {os.cpu_count()} cpus, load {os.getloadavg()}, workdir {workdir}", flush=True)

    def one(server: str, running: Running | None, case: ModelCase, protocol: str, c: int) -> None:
        if running is None:  # onnxruntime in-process: the limit
            cell = measure(
                Cell(server, case.name, "-", c),
                lambda: _inprocess_call(case),
                None,
                args.window,
                args.max_windows,
            )
        else:
            port = running.http if protocol == "http" else running.grpc
            if port is None:
                return
            cell = measure(
                Cell(server, case.name, protocol, c),
                lambda: _client_call(protocol, port, case, case.name),
                running,
                args.window,
                args.max_windows,
            )
        cell.note = f"load {os.getloadavg()[0]:.1f}"
        cells.append(cell)
        _print(cell)

    try:
        with ExitStack() as stack:
            # Every server is up at once and the cells interleave (each model, concurrency and protocol
            # runs on every server back to back), so load from the machine's other tenants, which changes
            # over minutes, falls on all servers alike rather than on whichever ran last.
            running: dict[str, Running] = {}
            if "motherboard" in servers or not args.no_batching:
                repo = motherboard_repository(workdir, models)
                running["motherboard"] = stack.enter_context(
                    motherboard_server(repo, workdir / "motherboard.log")
                )
            for peer in ("kserve", "ray"):
                if peer in servers and not args.batching_only:
                    try:
                        running[peer] = stack.enter_context(peer_server(peer, models, workdir))
                    except RuntimeError as exc:
                        print(f"{peer}: {exc}", flush=True)
            if not args.batching_only:
                for case in models.values():
                    for c in concurrencies:
                        if "inprocess" in servers:
                            one("inprocess", None, case, "-", c)
                        for protocol in protocols:
                            for server in ("motherboard", "kserve", "ray"):
                                if server in servers and server in running:
                                    one(server, running[server], case, protocol, c)
            if not args.no_batching:
                mb = running["motherboard"]
                for case in models.values():
                    for variant in ("nobatch", "batch"):
                        name = f"{case.name}_{variant}"
                        cell = measure(
                            Cell("motherboard", name, "http", args.batching_concurrency),
                            lambda k=case, n=name: _client_call("http", mb.http or 0, k, n),
                            mb,
                            args.window,
                            args.max_windows,
                        )
                        cell.note = f"load {os.getloadavg()[0]:.1f}; {_stats(mb.http or 0, name)}"
                        cells.append(cell)
                        _print(cell)
                        print(f"  {cell.note}", flush=True)
    finally:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps([asdict(c) for c in cells], indent=1))
        print(f"wrote {args.output}", flush=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _stats(port: int, model: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{model}/stats", timeout=30) as response:
        stats = json.loads(response.read())["model_stats"][0]
    inferences, executions = stats["inference_count"], max(1, stats["execution_count"])
    return f"mean batch {inferences / executions:.2f} ({inferences} inferences in {executions} executions)"


if __name__ == "__main__":
    main()
