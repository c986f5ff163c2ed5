"""The admission webhook (validating + defaulting), served by the operator through kopf.

Defaulting: an AIJob without ``spec.queue`` gets the queue that serves its namespace. Validation: the
pydantic models (the same rules as the schema and CEL, so older API servers are covered too) plus the checks
that need other objects (:mod:`.validation`). Every rejection names the field and the fix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from motherboard.api.constants import GROUP, LABEL_SITE, LABEL_SITE_KIND, VERSION
from motherboard.api.manifests import explain
from motherboard.api.v1alpha1 import AIJob, Queue
from motherboard.operator import metrics
from motherboard.operator.handlers import registry, state
from motherboard.operator.names import name_problems
from motherboard.operator.store import Store
from motherboard.operator.validation import (
    Cluster,
    NodeDevices,
    check_aijob,
    check_queue,
    check_queue_delete,
    default_queue,
)

READY_WAIT_SECONDS = 10.0


async def _cluster() -> Cluster:
    """The objects the checks need, from the operator's store (waiting for its first lists at start-up)."""
    store: Store | None = state.get("store")
    if store is None or not store.ready.is_set():
        try:
            await asyncio.wait_for(_store_ready(), READY_WAIT_SECONDS)
        except TimeoutError:
            raise kopf.AdmissionError(
                "the Motherboard operator is still loading the cluster state; retry in a few seconds",
                code=503,
            ) from None
        store = state["store"]
    nodes = [
        NodeDevices(view.name, view.labels.get(LABEL_SITE), view.labels.get(LABEL_SITE_KIND), view.inventory)
        for view in store.nodes.values()
    ]
    return Cluster(
        queues=dict(store.queues),
        pools=dict(store.pools),
        nodes=nodes,
        namespace_labels=dict(store.namespaces),
    )


async def _store_ready() -> None:
    while state.get("store") is None:
        await asyncio.sleep(0.1)
    await state["store"].ready.wait()


def _timed(kind: str, operation: str, check: Callable[[], list[str]]) -> None:
    started = time.perf_counter()
    try:
        problems = check()
    finally:
        metrics.WEBHOOK_SECONDS.labels(kind=kind, operation=operation).observe(time.perf_counter() - started)
    if problems:
        metrics.WEBHOOK_REJECTIONS.labels(kind=kind).inc()
        raise kopf.AdmissionError("\n".join(problems), code=422)


def _problems(
    model: type[AIJob] | type[Queue],
    body: Mapping[str, Any],
    check: Callable[[Any, Cluster], list[str]],
    cluster: Cluster,
) -> list[str]:
    """Everything wrong with ``body``: its schema (the pydantic model), then what the cluster reveals."""
    try:
        parsed = model.model_validate({k: v for k, v in dict(body).items() if k != "status"})
    except ValidationError as exc:
        return [explain(exc)]
    return check(parsed, cluster)


def _new_problems(
    model: type[AIJob] | type[Queue],
    body: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    check: Callable[[Any, Cluster], list[str]],
    cluster: Cluster,
) -> list[str]:
    """On CREATE every problem; on UPDATE only those the update brings. The cluster may have changed under
    an accepted object (its DevicePool deleted, its queue's quota cut): re-judging the whole object on
    every write refused even the fix (suspending it, deleting a field), so what was already wrong with the
    old object is not held against the new one."""
    problems = _problems(model, body, check, cluster)
    if old is None or not problems:
        return problems
    before = set(_problems(model, old, check, cluster))
    return [problem for problem in problems if problem not in before]


# ``persistent``: the configurations stay when the operator stops (kopf removed them on SIGTERM, and while
# it was down every AIJob was admitted unchecked and undefaulted); with kopf's default failure policy,
# ``Fail``, the API server then refuses what it cannot have checked until an operator serves again.
@kopf.on.mutate(
    GROUP, VERSION, "aijobs", id="default-aijob", operations=["CREATE"], persistent=True, registry=registry
)
async def default_aijob(*, spec: kopf.Spec, namespace: str | None, patch: kopf.Patch, **_: Any) -> None:
    if not spec.get("queue") and namespace:
        queue = default_queue(namespace, await _cluster())
        if queue is not None:
            patch.setdefault("spec", {})["queue"] = queue


@kopf.on.validate(
    GROUP,
    VERSION,
    "aijobs",
    id="validate-aijob",
    operations=["CREATE", "UPDATE"],
    persistent=True,
    registry=registry,
)
async def validate_aijob(*, body: kopf.Body, old: kopf.Body | None = None, **kwargs: Any) -> None:
    cluster = await _cluster()
    operation = str(kwargs.get("operation", ""))
    before = old if operation == "UPDATE" else None
    _timed("AIJob", operation, lambda: _new_problems(AIJob, body, before, _check_aijob, cluster))


def _check_aijob(job: AIJob, cluster: Cluster) -> list[str]:
    # The name rules first: they are what the pods and Service would be refused for later (422 forever).
    return [*name_problems(job), *check_aijob(job, cluster)]


@kopf.on.validate(
    GROUP,
    VERSION,
    "queues",
    id="validate-queue",
    operations=["CREATE", "UPDATE"],
    persistent=True,
    registry=registry,
)
async def validate_queue(*, body: kopf.Body, old: kopf.Body | None = None, **kwargs: Any) -> None:
    cluster = await _cluster()
    operation = str(kwargs.get("operation", ""))
    before = old if operation == "UPDATE" else None
    _timed("Queue", operation, lambda: _new_problems(Queue, body, before, check_queue, cluster))


@kopf.on.validate(
    GROUP,
    VERSION,
    "queues",
    id="validate-queue-delete",
    operations=["DELETE"],
    persistent=True,
    registry=registry,
)
async def validate_queue_delete(*, name: str | None, **kwargs: Any) -> None:
    # Deleting a parent switched its whole subtree off, and deleting a queue under running jobs left their
    # quota charged nowhere: both are refused, with what to do first.
    cluster = await _cluster()
    store: Store = state["store"]
    jobs = [
        (f"{ns}/{job}", (obj.get("spec") or {}).get("queue"), (obj.get("status") or {}).get("phase"))
        for (ns, job), obj in store.jobs.items()
    ]
    _timed("Queue", "DELETE", lambda: check_queue_delete(name or "", cluster, jobs))
