"""The demo as a numbered story: cluster, CRDs, components, examples, live view, clean stop."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client
from rich.console import Console
from rich.live import Live

from motherboard.api import crdgen
from motherboard.api.constants import GROUP, VERSION
from motherboard.api.v1alpha1 import KINDS
from motherboard.demo import components
from motherboard.demo.serving import ServingDemo
from motherboard.demo.view import dashboard
from motherboard.devcluster import images, prometheus, realnode
from motherboard.devcluster.build import ensure_binaries
from motherboard.devcluster.cluster import ClusterError, DevCluster
from motherboard.devcluster.fakenodes import api_client
from motherboard.devcluster.images import PYTHON_REF, ImageError
from motherboard.devcluster.profile import ClusterProfile
from motherboard.devcluster.realnode import RealNodeError

DONE_PHASES = {"Succeeded", "Failed"}


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


def wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def finished(jobs: list[dict[str, Any]]) -> bool:
    """Every batch job done, every inference job serving."""

    def done(job: dict[str, Any]) -> bool:
        phase = (job.get("status") or {}).get("phase")
        return phase == "Running" if job["spec"].get("type") == "Inference" else phase in DONE_PHASES

    return bool(jobs) and all(done(job) for job in jobs)


class Demo:
    def __init__(
        self, console: Console, profile: Path, examples: Path, state_dir: Path | None, real_nodes: int = 0
    ) -> None:
        self.console, self.profile, self.examples = console, profile, examples
        self.dev = DevCluster(state_dir)
        self.real_nodes = real_nodes
        self.parts: list[components.Component] = []
        self.has_real_node = False

    def log(self, message: str) -> None:
        self.console.print(f"  [dim]{message}[/]", highlight=False)

    def run(self, watch_seconds: float) -> None:
        console = self.console
        # 1. The control plane: binaries built once into the cache, then started (or reused).
        console.rule("[bold]1. Local Kubernetes control plane")
        real_nodes = self._real_nodes_possible()
        bins = ensure_binaries(self.log, real_nodes=bool(real_nodes))
        started = time.monotonic()
        try:
            result = self.dev.up(
                ClusterProfile.load(self.profile),
                reuse=True,
                progress=self.log,
                bins=bins,
                real_nodes=real_nodes,
                prometheus=prometheus.available(),  # Debian's package (hack/apt-packages.txt)
            )
        except (ClusterError, RealNodeError, ImageError) as exc:
            raise DemoError(str(exc)) from exc
        verb = "reused" if result.reused else "started"
        real = f" + real node {', '.join(result.real_nodes)}" if result.real_nodes else ""
        console.print(f"  {verb} in {time.monotonic() - started:.1f}s, {result.nodes} kwok nodes{real}")
        self.kubectl = [str(bins.kubectl), f"--kubeconfig={self.dev.kubeconfig}"]
        if result.real_nodes:
            console.rule("[bold]1b. A pod running for real on the real node (kubelet + containerd + runc)")
            self._real_pod(result.real_nodes[0])
        # 2. The API: CRDs generated from the models, applied server-side.
        console.rule("[bold]2. CRDs (AIJob, DevicePool, Queue)")
        self._kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            stdin="---\n".join(crdgen.render(kind) for kind in KINDS),
        )
        self._kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=motherboard",
        )
        # 3. Motherboard's own processes.
        console.rule("[bold]3. Operator (with its admission webhook) and scheduler")
        logs = self.dev.dir / "logs"
        self.has_real_node = bool(result.real_nodes)
        self.parts = [
            components.operator(
                self.dev.kubeconfig,
                logs,
                artifacts=self.dev.dir / "artifacts",
                # Pods on the real node's bridge reach this host's processes at the bridge's address.
                pod_host=realnode.BRIDGE_IP if result.real_nodes else "127.0.0.1",
            ),
            components.scheduler(self.dev.kubeconfig, logs),
        ]
        for part in self.parts:
            part.start()
            prometheus.register_target(
                self.dev.dir, f"motherboard-{part.name}", part.name, part.ports["metrics"]
            )
            console.print(f"  {part.name}: pid {part.proc.pid if part.proc else '?'}, log {part.log}")
        artifacts_port = self.parts[0].ports.get("artifacts")
        if artifacts_port is not None:
            # The model replicas are pods: Prometheus finds them through the operator's discovery endpoint.
            try:
                prometheus.register_http_sd(
                    self.dev.dir,
                    prometheus.MODEL_REPLICAS_JOB,
                    f"http://127.0.0.1:{artifacts_port}/v1/sd/model-replicas",
                    self.dev.prometheus_url(),
                )
            except OSError as exc:
                console.print(f"  [yellow]Prometheus did not reload ({exc}): model replicas are not scraped")
        wait("the operator's webhook", self._webhook_serving, 90)
        self._check_alive()
        # 4. The examples: tenants, pools and jobs.
        console.rule("[bold]4. Examples")
        out = self._kubectl("apply", "-f", str(self.examples)) or ""
        for line in out.splitlines():
            self.log(line)
        # 5. Watch them go Queued → Running → Succeeded.
        console.rule("[bold]5. Live status (Ctrl-C to stop)")
        self._watch(watch_seconds)
        # 6. A Model compiled per target and served across the central site and the edge.
        console.rule("[bold]6. Model serving: compile per target, replicas, a request through the Service")
        if not self.has_real_node:
            console.print("  [yellow]skipped:[/] model replicas need the real node (see step 1)")
            return
        images.import_image(images.project_image(self.log), realnode.ctr(), self.log)
        ServingDemo(console, self.kubectl, self.dev.kubeconfig, self.examples, DemoError).run()
        self._check_alive()

    def _real_nodes_possible(self) -> int:
        """The real nodes asked for, or 0 with the reason where this host or machine cannot have one now."""
        if not self.real_nodes:
            return 0
        missing = realnode.missing_requirements()
        if missing:
            self.console.print(
                f"  [yellow]no real node:[/] this host cannot run one: missing {'; '.join(missing)}"
            )
            return 0
        owner = realnode.owner_elsewhere(self.dev.dir)
        if owner is not None:
            self.console.print(
                f"  [yellow]no real node:[/] the dev cluster in {owner} holds this machine's one"
            )
            return 0
        return self.real_nodes

    def _real_pod(self, node: str) -> None:
        """Run a pod on the real node and show what the container saw: its PID 1, cgroup and kernel."""
        name = "hello-real-node"
        code = (
            "import os, platform; "
            'print(f\'hello from pod {os.environ["HOSTNAME"]} on node {os.environ["NODE_NAME"]}\'); '
            "print(f'pid {os.getpid()}, python {platform.python_version()}, kernel {platform.release()}'); "
            "print('cgroup:', open('/proc/self/cgroup').read().splitlines()[-1])"
        )
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "nodeName": node,
                "restartPolicy": "Never",
                "tolerations": [{"operator": "Exists"}],  # the real node's and the edge site's taints
                "containers": [
                    {
                        "name": "hello",
                        "image": PYTHON_REF,
                        "imagePullPolicy": "Never",  # built here from Debian packages; no registry
                        "command": ["python3", "-c", code],
                        "env": [
                            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
                        ],
                    }
                ],
            },
        }
        self._kubectl("delete", "pod", name, "-n", "default", "--ignore-not-found", "--wait=true")
        started = time.monotonic()
        self._kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        with api_client(self.dev.kubeconfig) as api:
            core = client.CoreV1Api(api)

            def phase() -> str | None:
                status = core.read_namespaced_pod(name, "default").status
                return status.phase if status else None

            wait(f"pod {name} on {node}", lambda: phase() in DONE_PHASES, 120)
            ended = phase()
        self.console.print(
            f"  pod {name}: {ended} in {time.monotonic() - started:.1f}s; its log (kubectl logs):"
        )
        for line in (self._kubectl("logs", name, "-n", "default") or "").splitlines():
            self.log(line)
        if ended != "Succeeded":
            raise DemoError(f"pod {name} on the real node ended {ended}")

    def _watch(self, watch_seconds: float) -> None:
        api = client.CustomObjectsApi(api_client(self.dev.kubeconfig))
        deadline = time.monotonic() + watch_seconds
        with Live(console=self.console, refresh_per_second=2, transient=False) as live:
            while True:
                jobs = self._items(api, "aijobs")
                queues = self._items(api, "queues")
                pools = self._items(api, "devicepools")
                left = max(0, int(deadline - time.monotonic()))
                live.update(dashboard(jobs, queues, pools, f"refreshing every second; {left}s left"))
                self._check_alive()
                if finished(jobs) or time.monotonic() > deadline:
                    break
                time.sleep(1)

    @staticmethod
    def _items(api: client.CustomObjectsApi, plural: str) -> list[dict[str, Any]]:
        listed: Any = api.list_cluster_custom_object(GROUP, VERSION, plural)
        items: list[dict[str, Any]] = listed["items"]
        return items

    def _webhook_serving(self) -> bool:
        probe = subprocess.run(
            [*self.kubectl, "create", "--dry-run=server", "-f", "-"],
            check=False,
            input=components.WEBHOOK_PROBE,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return components.webhook_checks(probe.returncode, probe.stderr)

    def _check_alive(self) -> None:
        for part in self.parts:
            if not part.alive():
                raise DemoError(f"the {part.name} stopped; last lines of {part.log}:\n{part.tail()}")

    def _kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str | None:
        result = subprocess.run(
            [*self.kubectl, *args], check=False, input=stdin, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            if check:
                raise DemoError(f"kubectl {' '.join(args[:2])} failed: {result.stderr.strip()}")
            return None
        return result.stdout

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.stop()

    def next_steps(self) -> None:
        ports = {p.name: p.ports for p in self.parts}
        console = self.console
        console.rule("[bold]Next")
        console.print(f"  export KUBECONFIG={self.dev.kubeconfig}")
        console.print("  kubectl get aij,dp,mbq -A            # jobs, pools, queues at a glance")
        console.print("  kubectl describe aij -n research llama-finetune")
        if ports:
            console.print(
                f"  metrics (while running): operator http://127.0.0.1:{ports['operator']['metrics']}/metrics, "
                f"scheduler http://127.0.0.1:{ports['scheduler']['metrics']}/metrics"
            )
        if url := self.dev.prometheus_url():
            console.print(f"  prometheus: {url}  (dashboards' queries and alerts: docs/observability.md)")
        state = self.dev.load_state()
        if state is not None and state.real_nodes:
            node = state.real_nodes[0]
            console.print(
                f"  kubectl logs hello-real-node; kubectl describe node {node}   # the real node "
                "(`motherboard dev-cluster images` + device-plugins/ for its device plugin)"
            )
        console.print(f"  logs: {self.dev.dir / 'logs'}")
        console.print(
            "  the cluster keeps running: `make demo` again starts in seconds; "
            "`motherboard dev-cluster down` stops it"
        )
