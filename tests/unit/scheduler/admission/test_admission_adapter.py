"""From the Queue CRD to admission's spec, and the package's public surface."""

from __future__ import annotations

from typing import Any

import pytest

from motherboard.api.v1alpha1.queue import Queue
from motherboard.scheduler import admission
from motherboard.scheduler.admission import (
    QueueConfigError,
    QueueingStrategy,
    QuotaTree,
    ReclaimFromBorrowers,
    ResourceQuota,
    WithinQueue,
    queue_spec_from_api,
    queue_specs_from_api,
)


def api_queue(name: str, **spec: Any) -> Queue:
    return Queue.model_validate({"metadata": {"name": name}, "spec": spec})


def test_a_queue_object_becomes_quota_in_quota_units() -> None:
    queue = api_queue(
        "team-a",
        parent="org",
        quotas=[
            {"resource": "nvidia.com/gpu", "nominal": "8", "borrowingLimit": "4", "lendingLimit": "2"},
            {"resource": "memory", "nominal": "64Gi"},
            {"resource": "cpu", "nominal": "16", "pool": "edge"},
        ],
        weight=2,
        preemption={"withinQueue": "Never", "reclaimFromBorrowers": "LowerPriority"},
        queueingStrategy="StrictFIFO",
    )
    spec = queue_spec_from_api(queue)
    assert spec.name == "team-a" and spec.parent == "org" and spec.weight == 2.0
    assert spec.quotas == {
        "nvidia.com/gpu": ResourceQuota(8000, 4000, 2000),
        "memory": ResourceQuota(64 * 2**30),
        "cpu@edge": ResourceQuota(16000),
    }
    assert spec.preemption.within_queue is WithinQueue.NEVER
    assert spec.preemption.reclaim_from_borrowers is ReclaimFromBorrowers.LOWER_PRIORITY
    assert spec.strategy is QueueingStrategy.STRICT_FIFO


def test_converted_queues_build_a_tree() -> None:
    queues = [
        api_queue("org"),
        api_queue("a", parent="org", quotas=[{"resource": "nvidia.com/gpu", "nominal": 2}]),
    ]
    tree = QuotaTree(queue_specs_from_api(queues))
    assert tree.capacity("a", "nvidia.com/gpu") == 2000


def test_two_quotas_for_one_device_family_are_rejected() -> None:
    queue = api_queue(
        "a",
        quotas=[
            {"resource": "nvidia.com/gpu", "nominal": 2},
            {"resource": "nvidia.com/mig-1g.10gb", "nominal": 7},
        ],
    )
    with pytest.raises(QueueConfigError, match=r"two quotas count as nvidia\.com/gpu"):
        queue_spec_from_api(queue)


def test_public_surface_is_exactly_all() -> None:
    public = {name for name in vars(admission) if not name.startswith("_")}
    # Submodules appear as attributes once imported (``testing`` by other tests): they are not API.
    modules = {"adapter", "decision", "fairshare", "preemption", "resources", "spec", "tree", "units"}
    assert public - modules - {"testing"} == set(admission.__all__)
