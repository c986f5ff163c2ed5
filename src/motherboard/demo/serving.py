"""The demo's model-serving step: a Model from a PyPI wheel, compiled per target by compile jobs, served by
Inference AIJobs across the central site and the edge, and one real request through the Service.

Runs only with the real node (kwok nodes run nothing): the compile jobs and the ``ocr-edge`` replica run
there for real, in the project's image; ``ocr-everywhere``'s replicas on kwok nodes show which artifact
each target gets. The request goes to the Service's ClusterIP (kube-proxy on the real node) with
tritonclient, and the answer is compared with onnxruntime on the original file.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from kubernetes import client
from rich.console import Console
from rich.table import Table

from motherboard.api.constants import GROUP, LABEL_COMPILE_TARGET, VERSION
from motherboard.devcluster.fakenodes import api_client
from motherboard.runtime.reach import wait_until_serving

NAMESPACE = "edge-apps"
MODEL = "ocr-classifier"
EDGE_JOB = "ocr-edge"


class ServingDemo:
    """Step 6 of the demo."""

    def __init__(
        self,
        console: Console,
        kubectl: list[str],
        kubeconfig: Path,
        examples: Path,
        fail: Callable[[str], Exception],
    ) -> None:
        self.console, self.kubectl, self.kubeconfig, self.examples = console, kubectl, kubeconfig, examples
        self.fail = fail

    def run(self, timeout: float = 900) -> None:
        from motherboard.models.zoo import wheel_model

        source = wheel_model("ocr-cls")
        started = time.monotonic()
        configmap = self._kubectl(
            "create", "configmap", f"{MODEL}-v1", "-n", NAMESPACE, f"--from-file=model.onnx={source}",
            "--dry-run=client", "-o", "json",
        )  # fmt: skip
        self._kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=configmap)
        for line in self._kubectl("apply", "-f", str(self.examples / "serving")).splitlines():
            self.console.print(f"  [dim]{line}[/]", highlight=False)
        with api_client(self.kubeconfig) as api:
            custom = client.CustomObjectsApi(api)
            core = client.CoreV1Api(api)
            self._wait_serving(custom, timeout)
            cold = time.monotonic() - started
            self.console.print(f"  Model applied → first replica on the real node serving in {cold:.1f}s")
            self._show(custom)
            service = core.read_namespaced_service(EDGE_JOB, NAMESPACE)
            if service.spec is None or not service.spec.cluster_ip:
                raise self.fail(f"Service {NAMESPACE}/{EDGE_JOB} has no ClusterIP")
            self._ask(f"{service.spec.cluster_ip}:8000", source)

    def _wait_serving(self, custom: client.CustomObjectsApi, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        shown: set[str] = set()
        while True:
            job: Any = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "aijobs", EDGE_JOB)
            status = job.get("status") or {}
            serving = (status.get("serving") or [{}])[0]
            ready = sum(v.get("ready", 0) for v in serving.get("versions") or [])
            message = status.get("message") or ""
            if message not in shown:
                shown.add(message)
                self.console.print(
                    f"  [dim]{EDGE_JOB}: {status.get('reason', '')} {message}[/]", highlight=False
                )
            if ready:
                return
            if status.get("phase") == "Failed" or time.monotonic() > deadline:
                raise self.fail(
                    f"{EDGE_JOB} did not serve within {timeout:.0f}s: {status.get('reason')}: {message} "
                    f"(motherboard explain aijob {EDGE_JOB} -n {NAMESPACE})"
                )
            time.sleep(2)

    def _show(self, custom: client.CustomObjectsApi) -> None:
        listed: Any = custom.list_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "aijobs", label_selector=LABEL_COMPILE_TARGET
        )
        jobs: list[dict[str, Any]] = listed["items"]
        table = Table(
            title="Compile jobs (AIJobs of type Batch, placed by Motherboard)", title_justify="left"
        )
        for column in ("AIJOB", "TARGET", "PHASE"):
            table.add_column(column)
        for j in jobs:
            table.add_row(j["metadata"]["name"], j["metadata"]["labels"][LABEL_COMPILE_TARGET],
                          (j.get("status") or {}).get("phase", "Pending"))  # fmt: skip
        self.console.print(table)
        model: Any = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "models", MODEL)
        table = Table(title=f"Model {MODEL}: artifacts per target", title_justify="left")
        for column in ("VERSION", "TARGET", "BACKEND", "DIGEST", "SERVES", "WHY"):
            table.add_column(column, overflow="fold")
        for version in (model.get("status") or {}).get("versions") or []:
            for a in version.get("artifacts") or []:
                table.add_row(str(version["version"]), a["target"], a["backend"], a["digest"][:19],
                              "yes" if a.get("serving") else "fallback", a.get("reason", ""))  # fmt: skip
        self.console.print(table)
        table = Table(
            title="Inference AIJobs: the artifact each target's replicas load", title_justify="left"
        )
        for column in ("AIJOB", "PHASE", "READY", "TARGET → ARTIFACT"):
            table.add_column(column, overflow="fold")
        for name in (EDGE_JOB, "ocr-everywhere"):
            one: Any = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "aijobs", name)
            status = one.get("status") or {}
            serving = (status.get("serving") or [{}])[0]
            arts = "\n".join(f"{a['target']} → v{a['version']} {a['backend']} {a['digest'][:19]}"
                             for a in serving.get("artifacts") or [])  # fmt: skip
            table.add_row(
                name, status.get("phase", ""), status.get("ready", ""), arts or serving.get("message", "")
            )
        self.console.print(table)

    def _ask(self, url: str, source: Path) -> None:
        import onnxruntime as ort
        import tritonclient.http as thttp

        # A synthetic crop (dark strokes on a light background; not real text) and the same crop rotated 180°:
        # the point is the path and the numbers, compared with onnxruntime below.
        crop = np.full((3, 48, 192), 0.9, dtype=np.float32)
        for x in range(10, 180, 14):
            crop[:, 12:30, x : x + 8] = 0.1
            crop[:, 30:36, x : x + 3] = 0.1
        batch = np.stack([crop, crop[:, ::-1, ::-1]]).astype(np.float32)
        # kube-proxy programs a new Service's rules a moment after its endpoints are ready: until then the
        # ClusterIP is refused, or answered by whatever the host's default route leads to.
        try:
            wait_until_serving(url, timeout=30)
        except TimeoutError as exc:
            raise self.fail(str(exc)) from exc
        started = time.perf_counter()
        with thttp.InferenceServerClient(url, network_timeout=30) as triton:
            tensor = thttp.InferInput("x", list(batch.shape), "FP32")
            tensor.set_data_from_numpy(batch)
            result = triton.infer(MODEL, [tensor])
            name = result.get_response()["outputs"][0]["name"]
            got = result.as_numpy(name)
        took = (time.perf_counter() - started) * 1000
        if got is None:
            raise self.fail(f"the answer from {url} has no output")
        want = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": batch})[
            0
        ]
        diff = float(np.max(np.abs(got - want)))
        self.console.print(
            f"  tritonclient → Service {EDGE_JOB} ({url}) → the replica on the real node, in {took:.0f} ms:"
        )
        for label, row in zip(("crop", "crop rotated"), got, strict=True):
            angle = ("0°", "180°")[int(np.argmax(row))]
            self.console.print(
                f"    {label:<12} → {angle} (p = {float(np.max(row)):.3f})  {json.dumps(row.round(4).tolist())}"
            )
        self.console.print(f"  the same as onnxruntime on the wheel's file: max |difference| {diff:.2e}")
        if diff > 1e-3:
            raise self.fail(f"the served answer differs from onnxruntime by {diff}")

    def _kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*self.kubectl, *args], input=stdin, capture_output=True, text=True, check=False,
                              timeout=120)  # fmt: skip
        if done.returncode != 0:
            raise self.fail(f"kubectl {' '.join(args[:2])} failed: {done.stderr.strip()}")
        return done.stdout
