"""Kopf wiring, kept thin: indices hold what the operator has seen, events trigger level-based reconciles.

We use ``@kopf.on.event`` (no per-handler progress storage, no finalizers) rather than create/update
handlers: every reconcile recomputes the whole plan from the job and its pods, so there is no half-done
handler state to persist, a restarted operator simply reconciles everything it lists, and deleting a job is
left to Kubernetes' garbage collector through owner references.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
from pydantic import ValidationError

from motherboard.api.constants import GROUP, LABEL_JOB_NAME, VERSION
from motherboard.api.v1alpha1 import DevicePoolSpec
from motherboard.kube import Kube, load_access
from motherboard.operator.certs import make_serving_certs
from motherboard.operator.observed import ObservedPod, observe
from motherboard.operator.reconciler import JobKey, Reconciler

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
    certs_dir: Path = Path(tempfile.gettempdir()) / "motherboard-webhook"


def configure(kubeconfig: Path | None, webhook: WebhookOptions | None = None) -> None:
    """Where the operator's own API calls go (kopf's watches use the same kubeconfig), and the webhook."""
    state["kubeconfig"] = kubeconfig
    state["webhook"] = webhook


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
    settings.persistence.finalizer = f"{GROUP}/operator"
    settings.execution.max_workers = 8
    webhook: WebhookOptions | None = state.get("webhook")
    if webhook is not None:
        certs = make_serving_certs(webhook.certs_dir, [webhook.host, "localhost", "127.0.0.1"])
        settings.admission.server = kopf.WebhookServer(
            addr=webhook.listen,
            port=webhook.port,
            host=webhook.host,
            certfile=str(certs.cert),
            pkeyfile=str(certs.key),
            cafile=str(certs.ca),
        )
        settings.admission.managed = GROUP  # kopf keeps the webhook configurations (and caBundle) current
    kube = Kube(load_access(state.get("kubeconfig")))
    state["kube"] = kube
    memo["kube"] = kube
    state["reconciler"] = Reconciler(kube, _pods_of, _job, _pools)


@kopf.on.cleanup(registry=registry)
async def _cleanup(*, memo: kopf.Memo, **_: Any) -> None:
    await memo["kube"].close()


@kopf.index("pods", labels={LABEL_JOB_NAME: kopf.PRESENT}, registry=registry)
def pods_by_job(
    *, namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
) -> dict[JobKey, ObservedPod]:
    return {(namespace or "", labels[LABEL_JOB_NAME]): observe(_plain(body))}


@kopf.index(GROUP, VERSION, "aijobs", registry=registry)
def jobs_by_key(
    *, namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[JobKey, dict[str, Any]]:
    return {(namespace or "", name): _plain(body)}


@kopf.index(GROUP, VERSION, "devicepools", registry=registry)
def pools_by_name(*, name: str, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: dict(spec)}


@kopf.on.event(GROUP, VERSION, "aijobs", registry=registry)
async def job_changed(*, type: str, namespace: str | None, name: str, uid: str, **kwargs: Any) -> None:
    _indices(kwargs)
    reconciler: Reconciler = state["reconciler"]
    key = (namespace or "", name)
    if type == "DELETED":
        reconciler.forget(key, uid)
        return
    reconciler.trigger(key)


@kopf.on.event("pods", labels={LABEL_JOB_NAME: kopf.PRESENT}, registry=registry)
async def pod_changed(*, namespace: str | None, labels: Mapping[str, str], **kwargs: Any) -> None:
    _indices(kwargs)
    state["reconciler"].trigger((namespace or "", labels[LABEL_JOB_NAME]))


def _indices(kwargs: Mapping[str, Any]) -> None:
    # Kopf hands indices to handlers as keyword arguments; keep the latest views for the reconciler.
    for name in ("pods_by_job", "jobs_by_key", "pools_by_name"):
        if name in kwargs:
            state[name] = kwargs[name]


def _pods_of(key: JobKey) -> Iterable[ObservedPod]:
    index = state.get("pods_by_job")
    return list(index.get(key, [])) if index is not None else []


def _job(key: JobKey) -> dict[str, Any] | None:
    index = state.get("jobs_by_key")
    found = list(index.get(key, [])) if index is not None else []
    return found[0] if found else None


def _pools() -> dict[str, DevicePoolSpec]:
    index = state.get("pools_by_name")
    pools: dict[str, DevicePoolSpec] = {}
    for name, store in (index or {}).items():
        for spec in store:
            try:
                pools[name] = DevicePoolSpec.model_validate(spec)
            except ValidationError:
                log.warning("DevicePool %s has an invalid spec; jobs naming it use defaults", name)
    return pools


def _plain(body: kopf.Body) -> dict[str, Any]:
    # Kopf bodies are views over the last event's object; the indices keep plain, private copies.
    return copy.deepcopy(dict(body))
