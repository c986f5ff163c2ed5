"""What the operator has seen: one list+watch per kind feeding small derived views.

Reconciles, the DevicePool/Queue status writer and the admission webhook all read this one store.

**Why not kopf indices and per-resource kopf handlers.** Kopf holds every handler until all its indices
are "ready", through a toggle set in which each object's toggle change wakes every waiting per-object
worker, and each re-checks every toggle: cubic in the number of objects. With 1,000 kwok nodes (their
heartbeats keep creating fresh per-object workers, hence fresh toggles) the operator never became ready:
no AIJob reconcile completed in 15 minutes (profiled: ``ToggleSet.wait_for``/``Condition.notify_all``).
A list followed by a watch from the list's resourceVersion (:class:`~motherboard.kube.reflector.Reflector`)
gives the same consistency with one task per kind and no per-object task at all. Kopf still serves the
admission webhook (and keeps its configuration and CA bundle), logs in and runs start-up and clean-up.

The store keeps only what the operator reads: observed pods per job, what bound pods hold, node views,
and the specs of jobs, queues, pools and namespace labels. Callbacks tell the reconciler which job
changed and the status writer that pool or queue inputs changed; nothing is triggered before every kind
has been listed once (``ready``), so a restarted operator never plans from half a picture.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from motherboard.api.constants import GROUP, LABEL_JOB_NAME, VERSION
from motherboard.api.manifests import explain
from motherboard.api.v1alpha1 import DevicePoolSpec, Queue
from motherboard.kube import Kube
from motherboard.kube.client import path_for
from motherboard.kube.reflector import Reflector
from motherboard.operator.aggregate import NodeView, PodUsage
from motherboard.operator.observed import ObservedPod, observe

log = logging.getLogger(__name__)

Obj = dict[str, Any]
JobKey = tuple[str, str]
M = TypeVar("M", bound=BaseModel)
JobListener = Callable[[JobKey, str | None, bool], None]
"""``listener(key, uid, deleted)``: something about this job (or one of its pods) changed."""
ProblemListener = Callable[[Obj, str], None]
"""``listener(object, problem)``: this object carries something we cannot read (it is skipped or ignored)."""


class Store:
    """The operator's view of the cluster, fed by reflectors (or directly, in tests)."""

    def __init__(self) -> None:
        self.jobs: dict[JobKey, Obj] = {}
        self.job_pods: dict[JobKey, dict[str, ObservedPod]] = {}
        self.usage: dict[str, PodUsage] = {}
        """Bound, unfinished pods of any owner, by ``namespace/name``: what pools and queues account."""
        self.nodes: dict[str, NodeView] = {}
        self.queues: dict[str, Queue] = {}
        """Queues by name, validated once per event (an invalid one is left out and logged)."""
        self.pools: dict[str, DevicePoolSpec] = {}
        """DevicePool specs by name, validated once per event (an invalid one is left out and logged)."""
        self.namespaces: dict[str, dict[str, str]] = {}
        self.models: dict[JobKey, Obj] = {}
        """Models by (namespace, name), as stored (the model controller validates them)."""
        self.model_listeners: list[Callable[[JobKey], None]] = []
        self.ready = asyncio.Event()
        self.job_listeners: list[JobListener] = []
        self.status_listeners: list[Callable[[], None]] = []
        self.problem_listeners: list[ProblemListener] = []
        self.feeds: list[Reflector] = []
        """The reflectors feeding the store (their health is the operator's readiness)."""

    # --- reads ------------------------------------------------------------------------------------------------
    def pods_of(self, key: JobKey) -> Iterable[ObservedPod]:
        return list(self.job_pods.get(key, {}).values())

    def job(self, key: JobKey) -> Obj | None:
        return self.jobs.get(key)

    # --- writes (reflector handlers) ------------------------------------------------------------------------
    def on_job(self, obj: Obj, deleted: bool) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if deleted:
            if self.jobs.get(key, {}).get("metadata", {}).get("uid") in (None, meta.get("uid")):
                self.jobs.pop(key, None)
                pods = self.job_pods.get(key, {})
                for name in [n for n, p in pods.items() if p.gone]:
                    del pods[name]  # the remembered victims of a job that is gone
        else:
            self.jobs[key] = obj
        self._job_changed(key, meta.get("uid"), deleted)
        self._status_changed()  # queue status counts jobs by phase

    def on_pod(self, obj: Obj, deleted: bool) -> None:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        job = (meta.get("labels") or {}).get(LABEL_JOB_NAME)
        if job:
            key = (namespace, job)
            pods = self.job_pods.setdefault(key, {})
            seen = observe(obj)
            if deleted and seen.preempted:
                # The planner must see the preemption even if this deletion is the first it hears of it;
                # the job's next attempt replaces this entry with a new pod of the same name.
                pods[name] = replace(seen, deleting=True, gone=True)
            elif deleted:
                pods.pop(name, None)
                if not pods:
                    del self.job_pods[key]
            else:
                pods[name] = seen
            self._job_changed(key, None, False)
        where = f"{namespace}/{name}"
        usage = None if deleted else PodUsage.from_pod(obj)
        before = self.usage.pop(where, None)
        if usage is not None:
            self.usage[where] = usage
        if usage != before:
            self._status_changed()

    def on_node(self, obj: Obj, deleted: bool) -> None:
        # Nodes heartbeat every few seconds; only what pool status reads (labels, allocatable, the device
        # inventory) is kept, and only a change of it is worth a status pass.
        name = obj["metadata"]["name"]
        if deleted:
            self.nodes.pop(name, None)
        else:
            view = NodeView.from_node(obj)
            if self.nodes.get(name) == view:
                return
            self.nodes[name] = view
            if view.problem is not None:
                self.report({"apiVersion": "v1", "kind": "Node", **obj}, view.problem)
        self._status_changed()

    def on_queue(self, obj: Obj, deleted: bool) -> None:
        name = obj["metadata"]["name"]
        raw = {"metadata": {"name": name}, "spec": obj.get("spec") or {}}  # status is ours; nothing reads it
        queue = None if deleted else _valid(Queue, raw, f"Queue {name}")
        if queue is None:
            self.queues.pop(name, None)
        else:
            self.queues[name] = queue
        self._status_changed()

    def on_pool(self, obj: Obj, deleted: bool) -> None:
        name = obj["metadata"]["name"]
        spec = None if deleted else _valid(DevicePoolSpec, obj.get("spec") or {}, f"DevicePool {name}")
        if spec is None:
            self.pools.pop(name, None)
        else:
            self.pools[name] = spec
        self._status_changed()

    def on_namespace(self, obj: Obj, deleted: bool) -> None:
        name = obj["metadata"]["name"]
        if deleted:
            self.namespaces.pop(name, None)
        else:
            self.namespaces[name] = dict((obj.get("metadata") or {}).get("labels") or {})

    def on_model(self, obj: Obj, deleted: bool) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if deleted:
            self.models.pop(key, None)
        else:
            self.models[key] = obj
        if self.ready.is_set():
            for listener in self.model_listeners:
                listener(key)

    # --- notifications ----------------------------------------------------------------------------------------
    def report(self, obj: Obj, problem: str) -> None:
        """Something in ``obj`` cannot be read: tell the listeners (an Event on it), and go on."""
        for listener in self.problem_listeners:
            listener(obj, problem)

    def _job_changed(self, key: JobKey, uid: str | None, deleted: bool) -> None:
        if not self.ready.is_set():
            return  # everything is reconciled once when the first lists are complete
        for listener in self.job_listeners:
            listener(key, uid, deleted)

    def _status_changed(self) -> None:
        if self.ready.is_set():
            for listener in self.status_listeners:
                listener()

    def mark_ready(self) -> None:
        """Every kind is listed: reconcile every job once and compute every status."""
        self.ready.set()
        for key in list(self.models):
            for model_listener in self.model_listeners:
                model_listener(key)
        for key, obj in list(self.jobs.items()):
            self._job_changed(key, obj["metadata"].get("uid"), False)
        self._status_changed()


def _valid(model: type[M], raw: Obj, what: str) -> M | None:
    """``raw`` as ``model``, or ``None`` (logged: jobs naming it use defaults, the webhook skips it)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        log.warning("%s is invalid and is ignored until fixed: %s", what, explain(exc))
        return None


def reflectors(kube: Kube, store: Store, namespace: str | None) -> list[Reflector]:
    """One list+watch per kind the store keeps; pods and AIJobs in ``namespace`` only when one is given.

    An object a handler cannot take is skipped (the store keeps what it had of it) and reported on it."""

    def feed(
        group: str, plural: str, kind: str, handler: Callable[[Obj, bool], None], *, ns: str | None = None
    ) -> Reflector:
        api_version = f"{group}/{VERSION}" if group else "v1"

        def unreadable(obj: Obj, exc: Exception) -> None:
            obj.setdefault("apiVersion", api_version)  # list items carry no kind of their own
            obj.setdefault("kind", kind)
            store.report(
                obj, f"the operator cannot read this object and ignores it: {type(exc).__name__}: {exc}"
            )

        path = path_for(group, api_version.rsplit("/", 1)[-1], plural, ns)
        return Reflector(kube, path, handler, optional=bool(group), on_error=unreadable)

    return [
        feed("", "namespaces", "Namespace", store.on_namespace),
        feed("", "nodes", "Node", store.on_node),
        feed(GROUP, "queues", "Queue", store.on_queue),
        feed(GROUP, "devicepools", "DevicePool", store.on_pool),
        feed(GROUP, "aijobs", "AIJob", store.on_job, ns=namespace),
        feed(GROUP, "models", "Model", store.on_model, ns=namespace),
        feed("", "pods", "Pod", store.on_pod, ns=namespace),
    ]


async def run(kube: Kube, store: Store, namespace: str | None) -> None:
    """Keep ``store`` current until cancelled; marks it ready once every kind has been listed."""
    feeds = reflectors(kube, store, namespace)
    store.feeds = feeds
    tasks = [asyncio.create_task(feed.run(), name=f"watch {feed.path}") for feed in feeds]
    try:
        await asyncio.gather(*(feed.synced.wait() for feed in feeds))
        log.info(
            "operator store synced: %d jobs, %d nodes, %d bound pods",
            len(store.jobs),
            len(store.nodes),
            len(store.usage),
        )
        store.mark_ready()
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
