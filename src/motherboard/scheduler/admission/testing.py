"""Fluent builders for workloads and queues, for tests and the simulator (Kueue's ``MakeWorkload``).

>>> wl = make_workload("train").queue("team-a").gpus(8).priority(10).build()
>>> q = make_queue("team-a").parent("org").gpus(nominal=8, borrowing=4).build()
"""

from __future__ import annotations

from collections.abc import Mapping

from motherboard.api.constants import RESOURCE_NVIDIA_GPU
from motherboard.api.v1alpha1.queue import QueueingStrategy
from motherboard.scheduler.admission.resources import Resources
from motherboard.scheduler.admission.spec import (
    PreemptionPolicy,
    QueueSpec,
    ReclaimFromBorrowers,
    ResourceQuota,
    WithinQueue,
    Workload,
)
from motherboard.scheduler.admission.units import MILLI_PER_DEVICE, Quantity, quota_request

GPU = RESOURCE_NVIDIA_GPU


class WorkloadBuilder:
    """Builds a :class:`Workload`; every setter returns the builder."""

    def __init__(self, name: str) -> None:
        self._key = name if "/" in name else f"default/{name}"
        self._queue = "default"
        self._request: dict[str, int] = {}
        self._priority = 0
        self._created = 0.0
        self._preemptible = True
        self._pods = 1

    def queue(self, name: str) -> WorkloadBuilder:
        self._queue = name
        return self

    def priority(self, value: int) -> WorkloadBuilder:
        self._priority = value
        return self

    def created(self, at: float) -> WorkloadBuilder:
        self._created = at
        return self

    def non_preemptible(self) -> WorkloadBuilder:
        self._preemptible = False
        return self

    def gpus(self, count: float) -> WorkloadBuilder:
        """Whole (or fractional, e.g. 0.5) GPUs, in milli-GPU quota units."""
        return self.units(GPU, round(count * MILLI_PER_DEVICE))

    def units(self, resource: str, amount: int) -> WorkloadBuilder:
        """An amount already in quota units."""
        self._request[resource] = self._request.get(resource, 0) + amount
        return self

    def pod_requests(self, requests: Mapping[str, Quantity], *, pods: int = 1) -> WorkloadBuilder:
        """A gang of ``pods`` identical pods, each with Kubernetes ``requests``."""
        for resource, amount in quota_request(requests, count=pods).items():
            self.units(resource, amount)
        self._pods = pods
        return self

    def build(self) -> Workload:
        return Workload(
            key=self._key,
            queue=self._queue,
            request=Resources(self._request),
            priority=self._priority,
            created=self._created,
            preemptible=self._preemptible,
            pods=self._pods,
        )


class QueueBuilder:
    """Builds a :class:`QueueSpec`; every setter returns the builder."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._parent: str | None = None
        self._quotas: dict[str, ResourceQuota] = {}
        self._weight = 1.0
        self._within = WithinQueue.LOWER_PRIORITY
        self._reclaim = ReclaimFromBorrowers.ANY
        self._strategy = QueueingStrategy.BEST_EFFORT_FIFO

    def parent(self, name: str) -> QueueBuilder:
        self._parent = name
        return self

    def quota(
        self, resource: str, nominal: int, *, borrowing: int | None = None, lending: int | None = None
    ) -> QueueBuilder:
        """Quota for ``resource`` in quota units."""
        self._quotas[resource] = ResourceQuota(nominal, borrowing, lending)
        return self

    def gpus(
        self, nominal: float, *, borrowing: float | None = None, lending: float | None = None
    ) -> QueueBuilder:
        """GPU quota in whole GPUs (converted to milli-GPU)."""

        def milli(value: float | None) -> int | None:
            return None if value is None else round(value * MILLI_PER_DEVICE)

        nominal_milli = round(nominal * MILLI_PER_DEVICE)
        return self.quota(GPU, nominal_milli, borrowing=milli(borrowing), lending=milli(lending))

    def weight(self, value: float) -> QueueBuilder:
        self._weight = value
        return self

    def preemption(
        self,
        within_queue: WithinQueue = WithinQueue.LOWER_PRIORITY,
        reclaim: ReclaimFromBorrowers = ReclaimFromBorrowers.ANY,
    ) -> QueueBuilder:
        self._within, self._reclaim = within_queue, reclaim
        return self

    def strict_fifo(self) -> QueueBuilder:
        self._strategy = QueueingStrategy.STRICT_FIFO
        return self

    def build(self) -> QueueSpec:
        return QueueSpec(
            name=self._name,
            parent=self._parent,
            quotas=self._quotas,
            weight=self._weight,
            preemption=PreemptionPolicy(self._within, self._reclaim),
            strategy=self._strategy,
        )


def make_workload(name: str) -> WorkloadBuilder:
    """Start building a workload named ``name`` (``namespace/name``; ``default/`` when no namespace)."""
    return WorkloadBuilder(name)


def make_queue(name: str) -> QueueBuilder:
    """Start building a queue spec named ``name``."""
    return QueueBuilder(name)
