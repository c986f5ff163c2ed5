"""Create a profile's kwok nodes on the API server and wait until they are schedulable."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from motherboard.devcluster.render import KWOK_NODE_ANNOTATION

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
HTTP_CONFLICT = 409


def api_client(kubeconfig: Path, pool_size: int = 32) -> client.ApiClient:
    """A client for the dev cluster that does not touch the process-wide default configuration.

    It reads the kubeconfig that :mod:`motherboard.devcluster.kubeconfig` writes (one cluster, one
    client-certificate user) rather than going through ``kubernetes.config``, which is untyped.
    """
    doc = yaml.safe_load(kubeconfig.read_text())
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
    cfg = client.Configuration(host=cluster["server"])
    cfg.ssl_ca_cert = cluster["certificate-authority"]
    cfg.cert_file = user["client-certificate"]
    cfg.key_file = user["client-key"]
    # One connection per creating thread; urllib3's default pool of 4 would serialise them.
    cfg.connection_pool_maxsize = pool_size
    return client.ApiClient(cfg)


@dataclass(frozen=True)
class CreateResult:
    created: int
    existing: int
    seconds: float


def create_nodes(
    api: client.ApiClient,
    manifests: Sequence[dict[str, Any]],
    workers: int = 16,
    progress: Callable[[str], None] | None = None,
) -> CreateResult:
    """POST every Node, in parallel; nodes that already exist are left as they are (``--reuse``)."""
    core = client.CoreV1Api(api)
    started = time.monotonic()

    def create(body: dict[str, Any]) -> bool:
        try:
            # The client serialises a plain dict as-is; the manifests come from the pure renderer. The reply
            # is not turned into models: at 1,000 nodes that alone costs seconds of a 2-core machine's CPU.
            core.create_node(body=cast(client.V1Node, body), _preload_content=False)
            return True
        except ApiException as exc:
            if exc.status == HTTP_CONFLICT:
                return False
            raise

    created = existing = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="create-node") as pool:
        for done, was_created in enumerate(pool.map(create, manifests), start=1):
            created += was_created
            existing += not was_created
            if progress is not None and (done % 200 == 0 or done == len(manifests)):
                progress(f"  nodes created: {done}/{len(manifests)}")
    return CreateResult(created, existing, time.monotonic() - started)


def is_schedulable(node: dict[str, Any]) -> bool:
    """Ready, and the node-lifecycle controller has lifted the not-ready taint every new Node gets."""
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints") or []
    return ready and not any(t.get("key") == NOT_READY_TAINT for t in taints)


def _is_wanted_kwok_node(node: dict[str, Any], wanted: set[str]) -> bool:
    meta = node.get("metadata", {})
    return meta.get("name") in wanted and KWOK_NODE_ANNOTATION in (meta.get("annotations") or {})


def wait_schedulable(
    api: client.ApiClient,
    names: Sequence[str],
    timeout_s: float = 300,
    progress: Callable[[str], None] | None = None,
) -> float:
    """Wait until every named kwok node is schedulable; return the seconds it took."""
    core = client.CoreV1Api(api)
    wanted = set(names)
    started = time.monotonic()
    last = -1
    while True:
        # Raw JSON rather than models: polling 1,000 nodes stays cheap.
        raw = cast(Any, core.list_node(_preload_content=False))  # a urllib3 response, whatever the stub says
        nodes = json.loads(raw.data)["items"]
        ready = sum(1 for n in nodes if _is_wanted_kwok_node(n, wanted) and is_schedulable(n))
        if ready == len(wanted):
            return time.monotonic() - started
        if progress is not None and ready != last:
            progress(f"  nodes schedulable: {ready}/{len(wanted)}")
            last = ready
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(
                f"only {ready}/{len(wanted)} kwok nodes became Ready and untainted in {timeout_s:.0f}s"
            )
        time.sleep(2.0)
