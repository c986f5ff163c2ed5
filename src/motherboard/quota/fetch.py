"""What the quota commands read from and write to the API server (through :mod:`motherboard.kube`)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from motherboard.api.constants import GROUP, LABEL_JOB_NAME, VERSION
from motherboard.api.v1alpha1 import Queue
from motherboard.kube import ApiError, Kube, load_access
from motherboard.kube.client import MERGE_PATCH, path_for

T = TypeVar("T")
Obj = dict[str, Any]


class NotFound(LookupError):
    """The named object does not exist (the message says which)."""


@dataclass
class QueueState:
    """Every Queue (raw and parsed), the pods, and the AIJobs: what ``queue tree`` and ``pending`` show."""

    raw: dict[str, Obj]
    queues: dict[str, Queue]
    invalid: dict[str, str]
    pods: list[Obj]
    jobs: list[Obj]


def run(kubeconfig: Path | None, work: Any) -> Any:
    """Run ``work(kube)`` (a coroutine function) with a client for the given kubeconfig."""

    async def main() -> Any:
        async with Kube(load_access(kubeconfig)) as kube:
            return await work(kube)

    return asyncio.run(main())


async def _items(kube: Kube, path: str, optional: bool = False, **params: str) -> list[Obj]:
    try:
        listed = await kube.list(path, **params)
    except ApiError as exc:
        if optional and exc.status == 404:  # the CRD is not installed: nothing of that kind
            return []
        raise
    return list(listed.get("items") or [])


async def queue_state(kube: Kube, with_pods: bool = True) -> QueueState:
    """Queues, bound pods (every namespace) and AIJobs, read concurrently."""
    queues_path = path_for(GROUP, VERSION, "queues")
    calls: list[Coroutine[Any, Any, list[Obj]]] = [
        _items(kube, queues_path),
        _items(kube, path_for(GROUP, VERSION, "aijobs"), optional=True),
    ]
    if with_pods:
        # Only bound pods charge quota; the field selector keeps a big cluster's pending pods off the wire.
        calls.append(_items(kube, path_for("", "v1", "pods"), fieldSelector="spec.nodeName!="))
    results = await asyncio.gather(*calls)
    raw = {q["metadata"]["name"]: q for q in results[0]}
    parsed: dict[str, Queue] = {}
    invalid: dict[str, str] = {}
    for name, body in raw.items():
        try:
            parsed[name] = Queue.model_validate(body)
        except ValidationError as exc:
            invalid[name] = str(exc.errors()[0]["msg"])
    return QueueState(raw, parsed, invalid, results[2] if with_pods else [], results[1])


async def get_queue(kube: Kube, name: str) -> Obj:
    try:
        return await kube.get(path_for(GROUP, VERSION, "queues", None, name))
    except ApiError as exc:
        if exc.status == 404:
            raise NotFound(f"queue {name!r} does not exist") from exc
        raise


async def write_quotas(kube: Kube, body: Obj) -> Obj:
    """Merge-patch the Queue's ``spec.quotas``; the resourceVersion makes a concurrent edit fail (409), not
    silently lose one of the two."""
    meta = body["metadata"]
    patch = {
        "metadata": {"resourceVersion": meta["resourceVersion"]},
        "spec": {"quotas": body["spec"]["quotas"]},
    }
    return await kube.patch(path_for(GROUP, VERSION, "queues", None, meta["name"]), patch, MERGE_PATCH)


@dataclass
class JobObjects:
    """An AIJob with its pods, their nodes and recent events."""

    job: Obj
    pods: list[Obj]
    nodes: dict[str, Obj]
    events: list[Obj]


LABEL_VALUE_MAX = 63


async def _nothing() -> list[Obj]:
    return []


async def job_objects(kube: Kube, namespace: str, name: str) -> JobObjects:
    try:
        job = await kube.get(path_for(GROUP, VERSION, "aijobs", namespace, name))
    except ApiError as exc:
        if exc.status == 404:
            raise NotFound(f"AIJob {namespace}/{name} does not exist") from exc
        raise
    # A name longer than a label value cannot be in a selector (the API server answers 400): such a job
    # has no pods anyway (admission refuses it now; before, its pods were refused), so only its events.
    selected = len(name) <= LABEL_VALUE_MAX
    pods, events = await asyncio.gather(
        _items(kube, path_for("", "v1", "pods", namespace), labelSelector=f"{LABEL_JOB_NAME}={name}")
        if selected
        else _nothing(),
        _items(kube, path_for("", "v1", "events", namespace)),
    )
    pod_names = {p["metadata"]["name"] for p in pods}
    wanted = {("AIJob", name)} | {("Pod", pod) for pod in pod_names}
    mine = [
        e
        for e in events
        if ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name"))
        in wanted
    ]
    node_names = sorted({p["spec"]["nodeName"] for p in pods if (p.get("spec") or {}).get("nodeName")})
    nodes = await asyncio.gather(*(kube.get(path_for("", "v1", "nodes", None, n)) for n in node_names))
    return JobObjects(job, pods, dict(zip(node_names, nodes, strict=True)), mine)
