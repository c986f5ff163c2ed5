"""The scheduler's per-queue gauges follow the queues: a queue whose pending pods were all placed reads 0,
not the last count it had (a stale count kept the Tenants dashboard and the borrowing alert wrong), and
quota reads in the units the Queue states (devices, cores, bytes), not admission's milli-units."""

from __future__ import annotations

import pytest

from motherboard.scheduler.admission import QuotaTree
from motherboard.scheduler.admission.testing import make_queue, make_workload
from motherboard.scheduler.service import metrics


def pending_of(queue: str) -> float:
    return metrics.PENDING.labels(queue)._value.get()


def test_a_drained_queue_reads_zero_pending_pods() -> None:
    tree = QuotaTree([make_queue("org").build(), make_queue("research").parent("org").gpus(8).build()])
    metrics.observe_queues(tree, {"research": 3})
    assert pending_of("research") == 3
    metrics.observe_queues(tree, {})
    assert pending_of("research") == 0
    assert pending_of("org") == 0


def test_quota_and_usage_read_in_the_units_the_queue_states() -> None:
    tree = QuotaTree([make_queue("team").gpus(4).build()])
    tree.assume(make_workload("a").queue("team").gpus(1.428).build())  # a whole GPU and a 3g slice (3/7)
    metrics.observe_queues(tree, {"team": 1})
    assert metrics.QUEUE_QUOTA.labels("team", "nvidia.com/gpu")._value.get() == 4
    assert metrics.QUEUE_USAGE.labels("team", "nvidia.com/gpu")._value.get() == 1.428


@pytest.mark.parametrize(
    ("resource", "scale"),
    [
        ("nvidia.com/gpu", 1000),
        ("nvidia.com/gpu@pool-a", 1000),
        ("huawei.com/Ascend910", 1000),
        ("cpu", 1000),
        ("memory", 1),
        ("example.com/widget", 1),
    ],
)
def test_unit_scale_undoes_admissions_milli_units(resource: str, scale: int) -> None:
    assert metrics.unit_scale(resource) == scale


def test_borrowing_and_lending_limits_read_where_set_and_vanish_when_removed() -> None:
    limited = make_queue("lab").parent("org").gpus(8, borrowing=4, lending=2).build()
    tree = QuotaTree([make_queue("org").gpus(16).build(), limited])
    metrics.observe_queues(tree, {})
    assert metrics.QUEUE_BORROWING_LIMIT.labels("lab", "nvidia.com/gpu")._value.get() == 4
    assert metrics.QUEUE_LENDING_LIMIT.labels("lab", "nvidia.com/gpu")._value.get() == 2
    # The Queue drops its limits: no series is left claiming them (no limit is not a number).
    tree = QuotaTree([make_queue("org").gpus(16).build(), make_queue("lab").parent("org").gpus(8).build()])
    metrics.observe_queues(tree, {})
    sampled = {
        (s.name, s.labels.get("queue"))
        for family in (metrics.QUEUE_BORROWING_LIMIT, metrics.QUEUE_LENDING_LIMIT)
        for s in family.collect()[0].samples
    }
    assert ("motherboard_scheduler_queue_borrowing_limit", "lab") not in sampled
    assert ("motherboard_scheduler_queue_lending_limit", "lab") not in sampled
