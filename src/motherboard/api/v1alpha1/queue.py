"""``Queue``: a tenant's quota, in a hierarchy, with borrowing, lending and fair-share weight.

Quota is one unit across whole devices, MIG slices and fractional shares: a device quantity of ``1`` is one
whole device, and a MIG slice or a share is charged its compute share of the device (a 1g.10gb slice on an
A100 is ``142m``, rounded down so seven slices never exceed one GPU, a 0.25 share is ``250m``), so a tenant pays comparably on mixed hardware.

Semantics follow Kueue's cohorts: a queue may use its ``nominal`` quota, plus up to ``borrowingLimit`` more
from what its siblings (under the same ``parent``) do not use and are willing to lend (``lendingLimit``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from motherboard.api.base import (
    ApiModel,
    Condition,
    DnsLabel,
    LabelSelector,
    Quantity,
    Resource,
    parse_quantity,
)

MAX_QUOTAS = 64


class WithinQueuePreemption(StrEnum):
    """Whether a pending job may evict lower-priority jobs of its own queue."""

    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"


class ReclaimPolicy(StrEnum):
    """Whether a queue below its nominal quota may evict jobs of queues borrowing from it."""

    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"
    ANY = "Any"


class QueueingStrategy(StrEnum):
    """Order of admission within a queue."""

    STRICT_FIFO = "StrictFIFO"
    """The head blocks the queue until it is admitted."""
    BEST_EFFORT_FIFO = "BestEffortFIFO"
    """Jobs behind an inadmissible head may be admitted if they fit."""


class ResourceQuota(ApiModel):
    """Quota for one resource (optionally in one DevicePool)."""

    resource: str = Field(min_length=1, max_length=253)
    """Resource name: ``cpu``, ``memory``, ``nvidia.com/gpu`` (whole, MIG and shares alike),
    ``huawei.com/Ascend910`` …"""
    pool: str | None = Field(default=None, min_length=1, max_length=253)
    """Restrict this quota to one DevicePool; omit for the resource anywhere."""
    nominal: Quantity
    """Quota the queue is guaranteed, e.g. ``8`` GPUs or ``64`` CPUs."""
    borrowing_limit: Quantity | None = None
    """How much more than nominal the queue may borrow from siblings; omit for no limit (needs a parent)."""
    lending_limit: Quantity | None = None
    """How much of its unused nominal quota siblings may borrow; omit for all of it."""

    @model_validator(mode="after")
    def _lending_within_nominal(self) -> ResourceQuota:
        if self.lending_limit is not None and parse_quantity(self.lending_limit) > parse_quantity(
            self.nominal
        ):
            raise ValueError(
                f"lendingLimit: {self.lending_limit} exceeds nominal {self.nominal}; lend at most what you own"
            )
        return self


class PreemptionPolicy(ApiModel):
    """When the queue's pending jobs may evict running ones."""

    within_queue: WithinQueuePreemption = WithinQueuePreemption.LOWER_PRIORITY
    """Never, or evict lower-priority preemptible jobs of the same queue."""
    reclaim_from_borrowers: ReclaimPolicy = ReclaimPolicy.ANY
    """Never, LowerPriority or Any: evict jobs of queues that borrowed this queue's nominal quota."""


class QueueSpec(ApiModel):
    """A tenant's quota and place in the queue hierarchy."""

    parent: DnsLabel | None = None
    """Parent queue; siblings under one parent lend and borrow unused quota."""
    namespaces: list[DnsLabel] = Field(default_factory=list, max_length=256)
    """Namespaces whose AIJobs default to this queue and may use it."""
    namespace_selector: LabelSelector | None = None
    """Namespaces (by label) whose AIJobs may use this queue, in addition to ``namespaces``."""
    quotas: list[ResourceQuota] = Field(default_factory=list, max_length=MAX_QUOTAS)
    """Quota per resource (and pool)."""
    weight: int = Field(default=1, ge=0, le=1000)
    """Fair-share weight: borrowed capacity is shared in proportion to weights (0: borrows last)."""
    preemption: PreemptionPolicy = Field(default_factory=PreemptionPolicy)
    """When pending jobs may evict running ones."""
    queueing_strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    """StrictFIFO or BestEffortFIFO."""

    @model_validator(mode="after")
    def _quota_rules(self) -> QueueSpec:
        keys = [(q.resource, q.pool) for q in self.quotas]
        repeated = sorted({f"{r}{'/' + p if p else ''}" for r, p in keys if keys.count((r, p)) > 1})
        if repeated:
            raise ValueError(f"quotas: list each resource (and pool) once, repeated: {', '.join(repeated)}")
        if self.parent is None and any(q.borrowing_limit is not None for q in self.quotas):
            raise ValueError("quotas.borrowingLimit: needs a parent, a root queue has nobody to borrow from")
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "!has(self.quotas) || self.quotas.all(q, self.quotas.exists_one(p, p.resource == q.resource && "
            "(has(p.pool) ? p.pool : '') == (has(q.pool) ? q.pool : '')))",
            "message": "each resource (and pool) may appear only once in quotas",
            "fieldPath": ".quotas",
        },
        {
            "rule": "has(self.parent) || !has(self.quotas) || self.quotas.all(q, !has(q.borrowingLimit))",
            "message": "borrowingLimit needs a parent: a root queue has nobody to borrow from",
            "fieldPath": ".quotas",
        },
    ]


class ResourceUsage(ApiModel):
    """Usage of one quota."""

    resource: str
    """Resource name."""
    pool: str | None = None
    """DevicePool, if the quota is per pool."""
    nominal: str = "0"
    """Nominal quota."""
    used: str = "0"
    """Quantity held by admitted jobs."""
    borrowed: str = "0"
    """Part of ``used`` above nominal, borrowed from siblings."""
    lent: str = "0"
    """Part of nominal currently used by siblings."""


class QueueStatus(ApiModel):
    """The observed state of a queue."""

    usage: list[ResourceUsage] = Field(default_factory=list)
    """Usage per quota."""
    summary: str | None = None
    """Used of nominal per quota, for ``kubectl get``: ``nvidia.com/gpu 10/8 (2 borrowed), cpu 12/64``."""
    pending_jobs: int = Field(default=0, ge=0)
    """Jobs waiting for admission."""
    admitted_jobs: int = Field(default=0, ge=0)
    """Jobs admitted and holding quota."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Active: the queue and its parents exist and admit jobs."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` this status describes."""


class Queue(Resource):
    """A tenant queue: quota, hierarchy, borrowing, lending and fair share."""

    KIND: ClassVar[str] = "Queue"
    PLURAL: ClassVar[str] = "queues"
    SHORT_NAMES: ClassVar[list[str]] = ["mbq"]
    NAMESPACED: ClassVar[bool] = False
    PRINTER_COLUMNS: ClassVar[list[dict[str, Any]]] = [
        {"name": "Parent", "type": "string", "jsonPath": ".spec.parent"},
        {"name": "Weight", "type": "integer", "jsonPath": ".spec.weight"},
        {"name": "Used/Nominal", "type": "string", "jsonPath": ".status.summary"},
        {"name": "Pending", "type": "integer", "jsonPath": ".status.pendingJobs"},
        {"name": "Admitted", "type": "integer", "jsonPath": ".status.admittedJobs"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]

    api_version: Literal["motherboard.io/v1alpha1"] = "motherboard.io/v1alpha1"
    kind: Literal["Queue"] = "Queue"
    spec: QueueSpec = Field(default_factory=QueueSpec)
    """The desired state."""
    status: QueueStatus | None = None
    """The observed state, written by the operator."""


def find_parent_cycle(parents: Mapping[str, str | None]) -> list[str] | None:
    """A cycle in ``queue → parent`` links, as the queue names along it, or ``None``.

    The schema cannot see other objects, so the admission webhook runs this over all queues plus the one
    being written; a cycle would make quota borrowing undefined.
    """
    for start in parents:
        seen: list[str] = []
        node: str | None = start
        while node is not None and node in parents:
            if node in seen:
                return [*seen[seen.index(node) :], node]
            seen.append(node)
            node = parents[node]
    return None


def missing_parents(queues: Iterable[Queue]) -> list[tuple[str, str]]:
    """``(queue, parent)`` pairs whose parent does not exist."""
    names = {q.metadata.name for q in queues}
    return [(q.metadata.name, q.spec.parent) for q in queues if q.spec.parent and q.spec.parent not in names]
