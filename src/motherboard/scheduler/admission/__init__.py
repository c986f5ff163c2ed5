"""Admission: may a workload run now? Quota, hierarchy and borrowing, fair share, preemption, reclaim.

The flow in a scheduling cycle::

    tree = QuotaTree(specs)                     # once, and again when a Queue changes
    for decision in admit_heads(tree, heads):   # fair-share order; admitted ones are assumed in the tree
        match decision:
            case Admit(workload): ...           # go on to placement; tree.forget(key) if it fails
            case Preempt(workload, victims, _): ...  # evict the victims, requeue the workload
            case Wait(workload, _, message): ...     # requeue with backoff, surface message

Everything here is pure Python over small frozen values; no Kubernetes client.
"""

from motherboard.api.v1alpha1.queue import QueueingStrategy
from motherboard.scheduler.admission.adapter import queue_spec_from_api, queue_specs_from_api, quota_key
from motherboard.scheduler.admission.decision import (
    Admit,
    Decision,
    Preempt,
    Wait,
    WaitReason,
    admit_heads,
    decide,
)
from motherboard.scheduler.admission.fairshare import (
    dominant_resource_share,
    fair_share_key,
    fair_share_order,
)
from motherboard.scheduler.admission.preemption import (
    PreemptionReason,
    Victim,
    device_victims,
    plan_preemption,
)
from motherboard.scheduler.admission.resources import Resources
from motherboard.scheduler.admission.spec import (
    PreemptionPolicy,
    QueueSpec,
    ReclaimFromBorrowers,
    ResourceQuota,
    WithinQueue,
    Workload,
)
from motherboard.scheduler.admission.tree import Admitted, QueueConfigError, QuotaTree
from motherboard.scheduler.admission.units import (
    MILLI_PER_DEVICE,
    QuantityError,
    format_amount,
    mig_share_milli,
    parse_quantity,
    quota_request,
    quota_units,
)

__all__ = [
    "MILLI_PER_DEVICE",
    "Admit",
    "Admitted",
    "Decision",
    "Preempt",
    "PreemptionPolicy",
    "PreemptionReason",
    "QuantityError",
    "QueueConfigError",
    "QueueSpec",
    "QueueingStrategy",
    "QuotaTree",
    "ReclaimFromBorrowers",
    "ResourceQuota",
    "Resources",
    "Victim",
    "Wait",
    "WaitReason",
    "WithinQueue",
    "Workload",
    "admit_heads",
    "decide",
    "device_victims",
    "dominant_resource_share",
    "fair_share_key",
    "fair_share_order",
    "format_amount",
    "mig_share_milli",
    "parse_quantity",
    "plan_preemption",
    "queue_spec_from_api",
    "queue_specs_from_api",
    "quota_key",
    "quota_request",
    "quota_units",
]
