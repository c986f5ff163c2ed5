"""What the fault tests share: the real operator with its probes, and looks at the API server's view."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from motherboard.demo.components import Component, free_port
from tests.conftest import Cluster

GROUP, VERSION = "motherboard.io", "v1alpha1"
Obj = dict[str, Any]


class Operator(Component):
    """``motherboard operator run`` with its webhook and probes on free ports.

    ``lease_seconds``: a short Lease (4 s) makes a failover quick, for the tests that kill the leader. A leader
    that cannot renew in time exits (so two never reconcile at once), and on a loaded 2-core CI machine a 4 s
    Lease was lost while a test ran, leaving its jobs with no operator; the tests that only need an operator
    running keep the default 15 s."""

    def __init__(self, cluster: Cluster, log: Path, *extra: str, lease_seconds: int = 15) -> None:
        ports = {"health": free_port(), "webhook": free_port()}
        argv = [
            "operator", "run", f"--kubeconfig={cluster.kubeconfig}", "--metrics-port=0",
            f"--health-port={ports['health']}", f"--webhook-port={ports['webhook']}",
            f"--lease-duration={lease_seconds}", *extra,
        ]  # fmt: skip
        super().__init__("operator", argv, log, ports)

    def probe(self, path: str = "/readyz") -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{self.ports['health']}{path}")

    def ready(self) -> bool:
        return self.probe()[0] == 200

    def kill(self) -> None:
        self.stop(sig=signal.SIGKILL)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def remove_webhook_configurations(cluster: Cluster) -> None:
    """The webhook fails closed and outlives the operator: tests that end it remove its configuration."""
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        cluster.kubectl("delete", kind, GROUP, "--ignore-not-found", check=False)


def job_manifest(
    name: str, replicas: int = 1, env: dict[str, str] | None = None, duration: str = "600s", **spec: Any
) -> Obj:
    container: Obj = {"name": "main", "image": "busybox"}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    template = {
        "metadata": {"annotations": {"motherboard.io/simulated-duration": duration}},
        "spec": {"containers": [container]},
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AIJob",
        "metadata": {"name": name},
        "spec": {
            "framework": "PyTorch",
            "tasks": [
                {
                    "name": "worker",
                    "replicas": replicas,
                    "devices": {"vendor": "nvidia", "count": 1},
                    "template": template,
                }
            ],
            **spec,
        },
    }


def create(cluster: Cluster, namespace: str, manifest: Obj) -> tuple[bool, str]:
    """Create for real through kubectl: (accepted, stderr)."""
    result = cluster.kubectl("create", "-n", namespace, "-f", "-", check=False, stdin=json.dumps(manifest))
    return result.returncode == 0, result.stderr
