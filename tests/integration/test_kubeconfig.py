"""A kubeconfig whose user is an ``exec`` plugin, against the real API server (issue 14, kubeconfig).

Cloud clusters authenticate through exec plugins (aws eks get-token, gke-gcloud-auth-plugin, kubelogin).
Before, the client ignored them and `kubectl motherboard queue` got a 401; here the plugin hands out a
ServiceAccount token made by the local control plane.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from typer.testing import CliRunner

from motherboard.quota.cli import queue_app
from tests.conftest import Cluster
from tests.integration.test_operator import install_crds, wait_for

app = typer.Typer()
app.add_typer(queue_app, name="queue")


def exec_kubeconfig(cluster: Cluster, token: str, directory: Path) -> Path:
    dev = yaml.safe_load(cluster.kubeconfig.read_text())
    server = dict(dev["clusters"][0]["cluster"])
    ca = server.pop("certificate-authority", None)
    if ca is not None:  # embed it: the new file lives elsewhere
        ca_path = Path(ca) if Path(ca).is_absolute() else cluster.kubeconfig.parent / ca
        server["certificate-authority-data"] = base64.b64encode(ca_path.read_bytes()).decode()
    plugin = directory / "plugin.py"
    plugin.write_text(
        "import json\n"
        'print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", '
        f'"status": {{"token": {token!r}}}}}))\n'
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dev", "cluster": server}],
        "users": [{"name": "plugin", "user": user}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "plugin"}}],
        "current-context": "dev",
    }
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_queue_tree_works_with_an_exec_plugin_user(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    install_crds(cluster)
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    binding = f"reader-{namespace}"
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:reader",
    )
    try:
        token = cluster.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
        path = exec_kubeconfig(cluster, token, tmp_path)

        def tree() -> Any:
            result = CliRunner().invoke(app, ["queue", "tree", f"--kubeconfig={path}", "-o", "json"])
            assert "Unauthorized" not in result.output and "401" not in result.output, result.output
            # Freshly installed CRDs answer "storage is (re)initializing" for a moment.
            return result if result.exit_code == 0 else None

        result = wait_for("queue tree through the exec user", tree, timeout=60)
        assert "queues" in yaml.safe_load(result.output)
    finally:
        cluster.kubectl("delete", "clusterrolebinding", binding, check=False)
