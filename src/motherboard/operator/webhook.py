"""The admission webhook (validating + defaulting), served by the operator through kopf.

Defaulting: an AIJob without ``spec.queue`` gets the queue that serves its namespace. Validation: the
pydantic models (the same rules as the schema and CEL, so older API servers are covered too) plus the checks
that need other objects (:mod:`.validation`). Every rejection names the field and the fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from motherboard.api.constants import GROUP, LABEL_SITE, LABEL_SITE_KIND, VERSION
from motherboard.api.manifests import explain
from motherboard.api.v1alpha1 import AIJob, DevicePoolSpec, Queue
from motherboard.operator import indices as _indices  # noqa: F401  (registers the indices read here)
from motherboard.operator import metrics
from motherboard.operator.handlers import registry
from motherboard.operator.validation import Cluster, NodeDevices, check_aijob, check_queue, default_queue


def _cluster(kwargs: Mapping[str, Any]) -> Cluster:
    # Called from async handlers only: kopf updates the indices on the same event loop, so they cannot
    # change while we read them (a sync handler would run in a thread and race the updates).
    queues: dict[str, Queue] = {}
    for name, store in kwargs["queues_index"].items():
        for raw in store:
            try:
                queues[name] = Queue.model_validate(raw)
            except ValidationError:
                continue  # an invalid stored queue cannot serve jobs; it is reported on its own
    pools: dict[str, DevicePoolSpec] = {}
    for name, store in kwargs["pools_by_name"].items():
        for spec in store:
            try:
                pools[name] = DevicePoolSpec.model_validate(spec)
            except ValidationError:
                continue
    nodes = [
        NodeDevices(view.name, view.labels.get(LABEL_SITE), view.labels.get(LABEL_SITE_KIND), view.inventory)
        for store in kwargs["nodes_index"].values()
        for view in store
    ]
    labels: dict[str, dict[str, str]] = {
        name: next(iter(store), {}) for name, store in kwargs["namespaces_index"].items()
    }
    return Cluster(queues=queues, pools=pools, nodes=nodes, namespace_labels=labels)


def _timed(kind: str, operation: str, check: Callable[[], list[str]]) -> None:
    started = time.perf_counter()
    try:
        problems = check()
    finally:
        metrics.WEBHOOK_SECONDS.labels(kind=kind, operation=operation).observe(time.perf_counter() - started)
    if problems:
        metrics.WEBHOOK_REJECTIONS.labels(kind=kind).inc()
        raise kopf.AdmissionError("\n".join(problems), code=422)


def _parse(model: type[AIJob] | type[Queue], body: kopf.Body) -> Any:
    try:
        return model.model_validate({k: v for k, v in dict(body).items() if k != "status"})
    except ValidationError as exc:
        raise kopf.AdmissionError(explain(exc), code=422) from exc


@kopf.on.mutate(GROUP, VERSION, "aijobs", id="default-aijob", operations=["CREATE"], registry=registry)
async def default_aijob(*, spec: kopf.Spec, namespace: str | None, patch: kopf.Patch, **kwargs: Any) -> None:
    if not spec.get("queue") and namespace:
        queue = default_queue(namespace, _cluster(kwargs))
        if queue is not None:
            patch.setdefault("spec", {})["queue"] = queue


@kopf.on.validate(
    GROUP, VERSION, "aijobs", id="validate-aijob", operations=["CREATE", "UPDATE"], registry=registry
)
async def validate_aijob(*, body: kopf.Body, **kwargs: Any) -> None:
    def check() -> list[str]:
        job: AIJob = _parse(AIJob, body)
        return check_aijob(job, _cluster(kwargs))

    _timed("AIJob", str(kwargs.get("operation", "")), check)


@kopf.on.validate(
    GROUP, VERSION, "queues", id="validate-queue", operations=["CREATE", "UPDATE"], registry=registry
)
async def validate_queue(*, body: kopf.Body, **kwargs: Any) -> None:
    def check() -> list[str]:
        queue: Queue = _parse(Queue, body)
        return check_queue(queue, _cluster(kwargs))

    _timed("Queue", str(kwargs.get("operation", "")), check)
