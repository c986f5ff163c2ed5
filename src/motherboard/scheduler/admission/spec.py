"""The small internal values admission works on: queue specs and workloads.

These are deliberately not the pydantic CRD classes: the scheduling cycle and the simulator build and
compare thousands of them, and a frozen dataclass with slots is cheap to create, hash and read. A Queue
CRD becomes a :class:`QueueSpec` once, through :func:`.adapter.queue_spec_from_api`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from motherboard.api.quota import Limits
from motherboard.api.v1alpha1.queue import QueueingStrategy, ReclaimPolicy
from motherboard.scheduler.admission.resources import Resources

# The Queue API's enums serve as they are; only WithinQueue below adds a Kueue value the API does not offer.
ReclaimFromBorrowers = ReclaimPolicy


class WithinQueue(StrEnum):
    """Which workloads of its own queue a pending workload may preempt (Kueue ``withinClusterQueue``)."""

    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"
    LOWER_OR_NEWER_EQUAL_PRIORITY = "LowerOrNewerEqualPriority"


ResourceQuota = Limits
"""A queue's quota for one quota resource, in quota units (see :mod:`.units`): the shared model's
:class:`~motherboard.api.quota.Limits`, so admission and the webhook read the same three numbers."""


@dataclass(frozen=True, slots=True)
class PreemptionPolicy:
    """What a queue's pending workloads may evict to be admitted."""

    within_queue: WithinQueue = WithinQueue.LOWER_PRIORITY
    reclaim_from_borrowers: ReclaimFromBorrowers = ReclaimFromBorrowers.ANY


def _frozen(quotas: Mapping[str, ResourceQuota]) -> Mapping[str, ResourceQuota]:
    return MappingProxyType(dict(quotas))


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One node of the queue tree (a tenant, a team, an organisation)."""

    name: str
    parent: str | None = None
    """The queue this one borrows from and lends to; ``None`` for a root."""
    quotas: Mapping[str, ResourceQuota] = field(default_factory=dict)
    """Quota per quota resource; a resource no queue of the tree names is not limited by admission."""
    weight: float = 1.0
    """Fair-share weight: a queue with twice the weight may borrow twice as much before it yields."""
    preemption: PreemptionPolicy = PreemptionPolicy()
    strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a queue needs a name")
        if self.weight < 0:
            raise ValueError(f"queue {self.name}: weight must not be negative")
        object.__setattr__(self, "quotas", _frozen(self.quotas))

    def quota(self, resource: str) -> ResourceQuota:
        """The quota for ``resource``; a resource without one has nominal 0 and no limits."""
        return self.quotas.get(resource, _NO_QUOTA)


_NO_QUOTA = ResourceQuota()


@dataclass(frozen=True, slots=True)
class Workload:
    """The unit of admission: one job, the whole gang, admitted and evicted as one.

    ``request`` is the gang's summed request in quota units (see :func:`.units.quota_request`), so
    admission is all-or-nothing by construction and never evicts part of a gang.
    """

    key: str
    """Unique name, conventionally ``namespace/name``."""
    queue: str
    request: Resources
    priority: int = 0
    created: float = 0.0
    """Creation time (seconds); the FIFO tie-break within a priority."""
    preemptible: bool = True
    """``False`` for work that must never be evicted to make room (e.g. a production inference service)."""
    pods: int = 1
    """How many pods the gang has (informational: the request already sums them)."""
    min_pods: int = 0
    """Elastic gangs (``minAvailable`` below the replicas): the fewest pods it may start with. 0: all or
    nothing. With it, ``pod_requests`` holds each pod's request, in the order its pods are placed."""
    pod_requests: tuple[Resources, ...] = ()

    @property
    def elastic(self) -> bool:
        """Whether it may be admitted with fewer pods than it has (partial admission)."""
        return 0 < self.min_pods < len(self.pod_requests)

    def first(self, count: int) -> Workload:
        """The same workload cut down to its first ``count`` pods (what partial admission admits)."""
        requests = self.pod_requests[:count]
        return replace(self, request=Resources.total(requests), pods=count, pod_requests=requests)

    @property
    def name(self) -> str:
        """The workload as its owner knows it: ``team-a/pretrain``, not the key ``team-a/pretrain@0`` (the
        ``@attempt`` suffix is the scheduler's bookkeeping and means nothing in a message)."""
        return self.key.rsplit("@", 1)[0]

    def __str__(self) -> str:
        return self.key
