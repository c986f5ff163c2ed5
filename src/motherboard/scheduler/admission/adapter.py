"""From the Queue CRD to admission's :class:`QueueSpec`: parse quantities once, outside the hot path.

Quotas are converted to quota units (:mod:`.units`): ``nominal: 8`` of ``nvidia.com/gpu`` becomes 8000
milli-GPU, ``64`` CPUs 64000 millicores. A quota restricted to a DevicePool is kept under its own key,
:func:`quota_key` (``nvidia.com/gpu@pool-a``); a workload is charged against it when the caller builds
its request with the same keys.
"""

from __future__ import annotations

from collections.abc import Iterable

from motherboard.api.v1alpha1.queue import Queue
from motherboard.api.v1alpha1.queue import ResourceQuota as ApiResourceQuota
from motherboard.scheduler.admission.spec import (
    PreemptionPolicy,
    QueueSpec,
    ResourceQuota,
    WithinQueue,
)
from motherboard.scheduler.admission.tree import QueueConfigError
from motherboard.scheduler.admission.units import QuantityError, quota_units


def quota_key(resource: str, pool: str | None = None) -> str:
    """The quota resource a quota (or request) is counted under: per pool when it names one."""
    return resource if pool is None else f"{resource}@{pool}"


def queue_spec_from_api(queue: Queue) -> QueueSpec:
    """The admission view of one Queue object (raises :class:`QueueConfigError` on a bad quota)."""
    name = queue.metadata.name
    quotas: dict[str, ResourceQuota] = {}
    for quota in queue.spec.quotas:
        key, value = _convert(name, quota)
        if key in quotas:
            # e.g. quotas for nvidia.com/gpu and nvidia.com/mig-1g.10gb: both are GPU quota.
            raise QueueConfigError(
                f"queue {name}: two quotas count as {key}; give one quota per device family"
            )
        quotas[key] = value
    return QueueSpec(
        name=name,
        parent=queue.spec.parent,
        quotas=quotas,
        weight=float(queue.spec.weight),
        preemption=PreemptionPolicy(
            within_queue=WithinQueue(queue.spec.preemption.within_queue.value),
            reclaim_from_borrowers=queue.spec.preemption.reclaim_from_borrowers,
        ),
        strategy=queue.spec.queueing_strategy,
    )


def queue_specs_from_api(queues: Iterable[Queue]) -> list[QueueSpec]:
    """Every Queue as a :class:`QueueSpec`, ready for :class:`~.tree.QuotaTree`."""
    return [queue_spec_from_api(q) for q in queues]


def _convert(queue: str, quota: ApiResourceQuota) -> tuple[str, ResourceQuota]:
    try:
        resource, nominal = quota_units(quota.resource, quota.nominal)
        borrowing = (
            None if quota.borrowing_limit is None else quota_units(quota.resource, quota.borrowing_limit)[1]
        )
        lending = None if quota.lending_limit is None else quota_units(quota.resource, quota.lending_limit)[1]
    except QuantityError as err:
        raise QueueConfigError(f"queue {queue}: quota for {quota.resource}: {err}") from err
    return quota_key(resource, quota.pool), ResourceQuota(nominal, borrowing, lending)
