"""Queues and DevicePools as the scheduler reads them: the quota tree and which queue serves a namespace.

A pod's queue is its ``motherboard.io/queue`` label, else the Queue that lists its namespace, else none:
work nobody charges is scheduled without quota under :data:`~motherboard.scheduler.cycle.NO_QUEUE` (a
cluster without Queues still schedules). A label naming a Queue that does not exist waits, and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

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
        """A fresh quota tree of every queue that converts; a broken queue is left out (and logged)."""
        specs: list[QueueSpec] = []
        for queue in self.queues.values():
            try:
                specs.append(queue_spec_from_api(queue))
            except QueueConfigError as exc:
                log.warning("queue %s left out of admission: %s", queue.metadata.name, exc)
        return _tree(specs)

    def _index(self) -> None:
        self._by_namespace = {ns: q.metadata.name for q in self.queues.values() for ns in q.spec.namespaces}


def _tree(specs: Iterable[QueueSpec]) -> QuotaTree:
    specs = list(specs)
    try:
        return QuotaTree(specs)
    except QueueConfigError as exc:
        # An unknown parent or a cycle: admit through the queues that form a tree, drop the rest.
        log.warning("queue tree invalid (%s); keeping root queues only", exc)
        return QuotaTree([s for s in specs if s.parent is None])
