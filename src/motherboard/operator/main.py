"""Run the operator process: kopf over the handlers, Prometheus metrics, liveness, and a leader Lease.

**Active/standby.** With leader election on, a replica first wins the ``motherboard-operator`` Lease and
only then starts kopf: the store, the reconciles, the status writer *and* the admission webhook run on
the leader alone. The webhook is deliberately leader-only: each replica makes its own serving certificate
and kopf publishes that replica's CA in the webhook configurations, so two serving replicas would
overwrite each other's CA bundle. A standby answers ``/healthz`` (so it is not restarted) and listens on
no webhook port (the chart's readiness probe is a TCP check of that port, so the Service routes only to
the leader). A leader that cannot renew the Lease stops kopf and exits with status 1, so two operators
never reconcile at once; one stopped by SIGTERM releases the Lease, and a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import kopf
from aiohttp import web
from prometheus_client import start_http_server

from motherboard.kube import Kube, load_access
from motherboard.kube.leader import LeaderElector
from motherboard.operator import handlers, metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Election:
    """Where the operator's leader Lease lives and how long it lasts."""

    namespace: str = "kube-system"
    name: str = "motherboard-operator"
    duration: float = 15.0
    identity: str = f"{socket.gethostname()}_{os.getpid()}"


def run(
    kubeconfig: Path | None,
    metrics_port: int,
    health_port: int,
    namespace: str | None = None,
    webhook: handlers.WebhookOptions | None = None,
    election: Election | None = None,
) -> int:
    """Block running the operator until SIGINT/SIGTERM (0) or until leadership is lost (1)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Two INFO lines per admission request (the access log and kopf's "Webhook ... succeeded") are 4,000
    # lines for a 1,000-job burst and tell nothing that the webhook metrics do not; warnings still show.
    for chatty in ("aiohttp.access", "kopf.objects"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(kubeconfig)  # kopf's own login reads it too
    handlers.configure(kubeconfig, webhook, namespace)
    if webhook is not None:
        # Registers the admission handlers in the operator's registry.
        importlib.import_module("motherboard.operator.webhook")
    if metrics_port:
        start_http_server(metrics_port)
    return asyncio.run(_serve(kubeconfig, health_port, namespace, election))


async def _serve(
    kubeconfig: Path | None, health_port: int, namespace: str | None, election: Election | None
) -> int:
    elector: LeaderElector | None = None
    lease_kube: Kube | None = None
    if election is not None:
        lease_kube = Kube(load_access(kubeconfig))
        elector = LeaderElector.for_lease(
            lease_kube, election.namespace, election.name, election.identity, election.duration
        )
        async with _standby_health(health_port):
            await elector.acquire()
    metrics.LEADER.set(1)
    stop = asyncio.Event()
    handlers.state["stop"] = stop  # a failed store or status task stops the operator (exit status 1)
    operator = asyncio.create_task(
        kopf.operator(
            registry=handlers.registry,
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else [],
            standalone=True,
            stop_flag=stop,
            liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz" if health_port else None,
        )
    )
    keep = asyncio.create_task(elector.keep()) if elector is not None else None
    try:
        done, _ = await asyncio.wait(
            {operator, *([keep] if keep else [])}, return_when=asyncio.FIRST_COMPLETED
        )
        if keep is not None and keep in done:
            log.error("lost the operator lease; stopping so that the new leader alone reconciles")
            stop.set()
            await operator
            return 1
        await operator
        return 1 if handlers.state.get("failed") else 0
    finally:
        metrics.LEADER.set(0)
        if keep is not None:
            keep.cancel()
        if elector is not None:
            await elector.release()
        if lease_kube is not None:
            await lease_kube.close()


@contextlib.asynccontextmanager
async def _standby_health(port: int) -> AsyncIterator[None]:
    """``/healthz`` while waiting for the Lease (kopf serves it once this replica leads)."""
    if not port:
        yield
        return
    app = web.Application()
    app.router.add_get("/healthz", lambda _: _ok("ok (standby)\n"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def _ok(text: str) -> web.Response:
    return web.Response(text=text)
