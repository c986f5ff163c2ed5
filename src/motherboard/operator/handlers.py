"""Kopf wiring, kept thin: start-up builds the store, the reconciler and the status writer; kopf serves the webhook.

Reconciles are level-based: each one recomputes the whole plan from the job and its pods as the
:class:`~.store.Store` last saw them, so there is no half-done handler state to persist (no kopf progress
annotations, no finalizers), a restarted operator reconciles every job it lists, and deleting a job is
left to Kubernetes' garbage collector through owner references. Why the store and not kopf's own
per-resource handlers and indices: see :mod:`.store`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf

from motherboard.api.constants import GROUP
from motherboard.kube import Kube, load_access
from motherboard.operator import store as store_feed
from motherboard.operator.certs import make_serving_certs
from motherboard.operator.problems import ProblemReporter
from motherboard.operator.reconciler import JobKey, Reconciler
from motherboard.operator.review import StrictWebhookServer
from motherboard.operator.statuses import StatusWriter
from motherboard.operator.store import Store

log = logging.getLogger(__name__)

registry = kopf.OperatorRegistry()
state: dict[str, Any] = {}
"""What the handlers share: configuration, the API client, the reconciler, the latest index views."""


@dataclass(frozen=True)
class WebhookOptions:
    """How the API server reaches the admission webhook."""

    host: str
    """Name or IP the API server calls (``127.0.0.1`` locally, the Service's DNS name in a cluster)."""
    port: int
    listen: str = "0.0.0.0"
    certs_dir: Path | None = None
    """Where the serving certificates go; by default a fresh private directory per process (one fixed path
    let two operators on one host overwrite each other's CA and leaf between writing and loading them)."""


@dataclass(frozen=True)
class ServingConfig:
    """Model serving: the artifact store and endpoint, and how compile jobs and replicas are rendered."""

    directory: Path
    """The artifact store, sources and upload secret (a PersistentVolume in the chart)."""
    port: int
    listen: str = "0.0.0.0"
    url: str | None = None
    """How pods reach the endpoint (``http://<Service>.<namespace>:<port>``); default ``http://listen:port``."""
    image: str = ""
    compile_pod: dict[str, Any] | None = None
    """Merged into compile pods' spec (``nodeSelector``, ``tolerations``)."""
    measure: bool = True


def configure(
    kubeconfig: Path | None,
    webhook: WebhookOptions | None = None,
    namespace: str | None = None,
    serving: ServingConfig | None = None,
) -> None:
    """Where the operator's API calls go, the webhook, the one namespace to serve (None: all), and model
    serving (None: off; model-serving tasks then wait with a reason saying so)."""
    state["kubeconfig"] = kubeconfig
    state["webhook"] = webhook
    state["namespace"] = namespace
    state["serving"] = serving


@kopf.on.login(registry=registry)
def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # A private registry has no default login handler. With an explicit kubeconfig, read that file (the
    # kubernetes client fixes its default path at import time); otherwise log in as the client would.
    path = state.get("kubeconfig")
    if path is None:
        return kopf.login_via_client(**kwargs)
    from kubernetes import client as kube_client
    from kubernetes import config as kube_config

    cfg = kube_client.Configuration()
    kube_config.load_kube_config(config_file=str(path), client_configuration=cfg)  # type: ignore[no-untyped-call]
    # kubernetes >= 36 keeps a kubeconfig token under "BearerToken"; older releases under "authorization".
    raw = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization") or ""
    token = raw.removeprefix("Bearer ") or None
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
        token=token,
    )


@kopf.on.startup(registry=registry)
async def _startup(*, settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.WARNING  # we post our own, user-facing Events
    settings.watching.server_timeout = 270
    webhook: WebhookOptions | None = state.get("webhook")
    if webhook is not None:
        directory = webhook.certs_dir
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="motherboard-webhook-"))
            state["certs_dir"] = directory  # ours to remove at clean-up (restarts would pile them up)
        certs = make_serving_certs(directory, [webhook.host, "localhost", "127.0.0.1"])
        state["webhook_ca"] = certs.ca.read_bytes()  # what the readiness probe expects in the caBundle
        settings.admission.server = StrictWebhookServer(
            addr=webhook.listen,
            port=webhook.port,
            host=webhook.host,
            certfile=str(certs.cert),
            pkeyfile=str(certs.key),
            cafile=str(certs.ca),
        )
        settings.admission.managed = GROUP  # kopf keeps the webhook configurations (and caBundle) current
    kube = Kube(load_access(state.get("kubeconfig")))
    store = Store()
    reconciler = Reconciler(kube, store.pods_of, store.job, lambda: store.pools)
    writer = StatusWriter(kube, store)
    store.job_listeners.append(lambda key, uid, deleted: _job_changed(reconciler, key, uid, deleted))
    store.status_listeners.append(writer.poke)
    store.problem_listeners.append(ProblemReporter(kube))
    state.update(kube=kube, store=store, reconciler=reconciler, status_writer=writer)
    memo["kube"] = kube
    loop = asyncio.get_running_loop()
    state["tasks"] = [
        loop.create_task(store_feed.run(kube, store, state.get("namespace")), name="operator store"),
        loop.create_task(writer.run(), name="status writer"),
    ]
    serving: ServingConfig | None = state.get("serving")
    if serving is not None:
        state["tasks"].append(await _start_serving(serving, kube, store, reconciler))
    for task in state["tasks"]:
        task.add_done_callback(_stop_if_failed)


async def _start_serving(
    config: ServingConfig, kube: Kube, store: Store, reconciler: Reconciler
) -> asyncio.Task[None]:
    """The artifact endpoint and the model controller; returns the autoscaler's task."""
    from motherboard import __version__
    from motherboard.operator.artifacts import ArtifactService
    from motherboard.operator.modelctl import ModelController, ServingOptions

    artifacts = ArtifactService(config.directory)
    port = await artifacts.start(config.listen, config.port)
    url = config.url or f"http://{config.listen}:{port}"
    options = ServingOptions(
        endpoint=url,
        image=config.image or f"docker.io/motherboard/motherboard:{__version__}",
        compile_pod=config.compile_pod or {},
        measure=config.measure,
    )
    controller = ModelController(kube, store, artifacts, options, reconciler.trigger)
    artifacts.scrape_targets = controller.scrape_targets
    store.model_listeners.append(controller.trigger)
    store.job_listeners.append(lambda key, uid, deleted: controller.job_changed(key))
    reconciler.serving = controller.serving_for
    state.update(artifacts=artifacts, models=controller)
    log.info(
        "model serving: artifact endpoint on port %d (pods use %s), store %s", port, url, config.directory
    )
    return asyncio.get_running_loop().create_task(controller.autoscale_forever(), name="autoscaler")


def _stop_if_failed(task: asyncio.Task[None]) -> None:
    # The store and the status writer run until the operator stops. If one dies (a bug, an object its
    # handlers cannot read), the operator must not go on serving from a frozen view: it stops with status 1,
    # so its Deployment restarts it and the restart relists everything.
    if task.cancelled() or task.exception() is None:
        return
    log.error("%s failed; stopping the operator", task.get_name(), exc_info=task.exception())
    state["failed"] = True
    stop: asyncio.Event | None = state.get("stop")
    if stop is not None:
        stop.set()


@kopf.on.cleanup(registry=registry)
async def _cleanup(*, memo: kopf.Memo, **_: Any) -> None:
    tasks: list[asyncio.Task[None]] = state.pop("tasks", [])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await memo["kube"].close()
    artifacts = state.pop("artifacts", None)
    if artifacts is not None:
        await artifacts.stop()
    certs: Path | None = state.pop("certs_dir", None)
    if certs is not None:
        shutil.rmtree(certs, ignore_errors=True)


def _job_changed(reconciler: Reconciler, key: JobKey, uid: str | None, deleted: bool) -> None:
    if deleted:
        reconciler.forget(key, uid)
    else:
        reconciler.trigger(key)
