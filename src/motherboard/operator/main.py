"""Run the operator process: kopf over the handlers, Prometheus metrics, liveness."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from pathlib import Path

import kopf
from prometheus_client import start_http_server

from motherboard.operator import handlers


def run(
    kubeconfig: Path | None,
    metrics_port: int,
    health_port: int,
    namespace: str | None = None,
    webhook: handlers.WebhookOptions | None = None,
) -> None:
    """Block running the operator until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(kubeconfig)  # kopf's own login reads it too
    handlers.configure(kubeconfig, webhook)
    importlib.import_module("motherboard.operator.statuses")  # DevicePool and Queue status
    if webhook is not None:
        # Registers the admission handlers (and the indices they read) in the operator's registry.
        importlib.import_module("motherboard.operator.webhook")
    if metrics_port:
        start_http_server(metrics_port)
    asyncio.run(
        kopf.operator(
            registry=handlers.registry,
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else [],
            standalone=True,
            liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz" if health_port else None,
        )
    )
