"""Queues and DevicePools as the scheduler reads them: the quota tree and which queue serves a namespace.

A pod's queue is its ``motherboard.io/queue`` label, else the Queue that lists its namespace, else none:
work nobody charges is scheduled without quota under :data:`~motherboard.scheduler.cycle.NO_QUEUE` (a
cluster without Queues still schedules). A label naming a Queue that does not exist waits, and says so.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from motherboard.api.quota import QueueQuota, overcommitted
from motherboard.api.v1alpha1.devicepool import DevicePool, DevicePoolSpec
from motherboard.api.v1alpha1.queue import Queue
from motherboard.scheduler.admission import QueueConfigError, QueueSpec, QuotaTree, queue_spec_from_api
from motherboard.scheduler.cycle import NO_QUEUE

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Tenancy:
    """The Queue and DevicePool objects, and the quota tree built from the valid queues."""

    def __init__(self) -> None:
        self.queues: dict[str, Queue] = {}
        self.pools: dict[str, DevicePoolSpec] = {}
        self._by_namespace: dict[str, str] = {}
        self._tree: QuotaTree | None = None
        self._reported: dict[str, str] = {}
        """Problems already logged, so a cycle logs only what changed."""

    def upsert_queue(self, obj: Obj) -> None:
        try:
            queue = Queue.model_validate(obj)
        except ValidationError as exc:
            log.warning("ignoring invalid Queue %s: %s", obj["metadata"].get("name"), exc)
            return
        self.queues[queue.metadata.name] = queue
        self._index()

    def remove_queue(self, name: str) -> None:
        self.queues.pop(name, None)
        self._index()

    def upsert_pool(self, obj: Obj) -> None:
        try:
            self.pools[obj["metadata"]["name"]] = DevicePool.model_validate(obj).spec
        except ValidationError as exc:
            log.warning("ignoring invalid DevicePool %s: %s", obj["metadata"].get("name"), exc)

    def remove_pool(self, name: str) -> None:
        self.pools.pop(name, None)

    def queue_for(self, label: str | None, namespace: str) -> str:
        """The queue a pod is charged to (:data:`NO_QUEUE` when nobody is)."""
        if label:
            return label
        return self._by_namespace.get(namespace, NO_QUEUE)

    def tree(self) -> QuotaTree:
        """A fresh quota tree of every queue that converts and has its ancestors: a queue with a bad quota,
        a missing parent or a parent cycle is left out with its subtree (:attr:`QuotaTree.inactive`), and
        the other trees admit as before. Problems are logged by :meth:`report`, not here: during the initial
        list a child often arrives before its parent, and that is no problem worth a warning."""
        specs: list[QueueSpec] = []
        broken: dict[str, str] = {}
        for queue in self.queues.values():
            try:
                specs.append(queue_spec_from_api(queue))
            except QueueConfigError as exc:
                broken[queue.metadata.name] = str(exc)
        tree = QuotaTree.tolerant(specs)
        for name, reason in broken.items():
            # A queue whose quota does not convert is out, and so is its subtree (it has no parent now).
            tree.inactive[name] = reason
        self._tree = tree
        return tree

    def report(self) -> None:
        """Log each queue that leaves admission (and each that comes back) once, as the tree now stands.

        Called before a cycle, so the initial list has been applied as a whole: a parent listed after its
        child is no warning.
        """
        tree = self._tree
        if tree is None:
            return
        problems = {name: f"queue {name} left out of admission: {why}" for name, why in tree.inactive.items()}
        for found in overcommitted(QueueQuota(n, tree.parent(n), tree.spec(n).quotas) for n in tree.queues()):
            problems[f"{found.parent}/{found.resource}"] = (
                f"queue {found.parent}: its children are promised more {found.resource} than its nominal "
                f"({found.promised} > {found.nominal} quota units); not every child can have its nominal at once"
            )
        for key, message in problems.items():
            if self._reported.get(key) != message:
                log.warning("%s", message)
        for key in self._reported.keys() - problems.keys():
            log.info("queue problem resolved: %s", self._reported[key])
        self._reported = problems

    def _index(self) -> None:
        self._by_namespace = {ns: q.metadata.name for q in self.queues.values() for ns in q.spec.namespaces}
