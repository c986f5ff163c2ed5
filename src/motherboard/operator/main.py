"""Run the operator process: kopf over the handlers, Prometheus metrics, liveness, and a leader Lease.

**Active/standby.** With leader election on, a replica first wins the ``motherboard-operator`` Lease and
only then starts kopf: the store, the reconciles, the status writer *and* the admission webhook run on
the leader alone. The webhook is deliberately leader-only: each replica makes its own serving certificate
and kopf publishes that replica's CA in the webhook configurations, so two serving replicas would
overwrite each other's CA bundle. A standby answers ``/healthz`` (so it is not restarted), fails
``/readyz`` and listens on no webhook port, so the webhook Service routes only to the leader (whose
``/readyz`` also checks its watches and the webhook configurations, :mod:`.health`). A leader that cannot renew the Lease stops kopf and exits with status 1, so two operators
never reconcile at once; one stopped by SIGTERM releases the Lease, and a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import kopf
from prometheus_client import start_http_server

from motherboard.kube import Kube, load_access
from motherboard.kube.leader import LeaderElector
from motherboard.operator import faults, handlers, metrics
from motherboard.operator.health import OperatorHealth

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
    serving: handlers.ServingConfig | None = None,
) -> int:
    """Block running the operator until SIGINT/SIGTERM (0) or until leadership is lost (1)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Two INFO lines per admission request (the access log and kopf's "Webhook ... succeeded") are 4,000
    # lines for a 1,000-job burst and tell nothing that the webhook metrics do not; warnings still show.
    for chatty in ("aiohttp.access", "kopf.objects"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(kubeconfig)  # kopf's own login reads it too
    faults.kill_at()  # a malformed fault-injection value stops the start, naming the variable
    handlers.configure(kubeconfig, webhook, namespace, serving)
    if webhook is not None:
        # Registers the admission handlers in the operator's registry.
        importlib.import_module("motherboard.operator.webhook")
    if metrics_port:
        start_http_server(metrics_port)
    return asyncio.run(_serve(kubeconfig, health_port, namespace, election))


async def _serve(
    kubeconfig: Path | None, health_port: int, namespace: str | None, election: Election | None
) -> int:
    # One client for the Lease and the readiness probe's look at the webhook configurations.
    kube = Kube(load_access(kubeconfig))
    health = OperatorHealth(kube, handlers.state)
    if health_port:
        await health.start(health_port)
    elector: LeaderElector | None = None
    try:
        if election is not None:
            elector = LeaderElector.for_lease(
                kube, election.namespace, election.name, election.identity, election.duration
            )
            await elector.acquire()
        return await _lead(health, elector, namespace)
    finally:
        if elector is not None:
            await elector.release()
        await health.stop()
        await kube.close()


async def _lead(health: OperatorHealth, elector: LeaderElector | None, namespace: str | None) -> int:
    metrics.LEADER.set(1)
    health.leading = True
    stop = asyncio.Event()
    handlers.state["stop"] = stop  # a failed store or status task stops the operator (exit status 1)
    operator = asyncio.create_task(
        kopf.operator(
            registry=handlers.registry,
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else [],
            standalone=True,
            stop_flag=stop,
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
        health.leading = False
        metrics.LEADER.set(0)
        if keep is not None:
            keep.cancel()
