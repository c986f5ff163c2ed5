"""Dominant-resource fair share over borrowed quota, and the admission half of a cycle."""

from __future__ import annotations

import math

from motherboard.scheduler.admission import (
    Admit,
    QuotaTree,
    Wait,
    WaitReason,
    Workload,
    admit_heads,
    dominant_resource_share,
    fair_share_order,
)
from motherboard.scheduler.admission.testing import make_queue, make_workload

GPU = "nvidia.com/gpu"


def gpus(name: str, queue: str, count: float, priority: int = 0) -> Workload:
    return make_workload(name).queue(queue).gpus(count).priority(priority).build()


def three_teams(weight_c: float = 1.0) -> QuotaTree:
    """org (20 GPUs, 40 CPUs in all) ── a, b, c with 2 GPUs and 8 CPUs each out of it."""
    return QuotaTree(
        [
            make_queue("org").gpus(20).quota("cpu", 40_000).build(),
            *(
                make_queue(name).parent("org").gpus(2).quota("cpu", 8000).weight(w).build()
                for name, w in (("a", 1.0), ("b", 1.0), ("c", weight_c))
            ),
        ]
    )


def test_share_is_the_dominant_borrowed_fraction_over_weight() -> None:
    tree = three_teams(weight_c=2.0)
    tree.assume(make_workload("x").queue("c").gpus(6).units("cpu", 8000 + 32_000).build())
    # org's nominal covers its children's (counted once): 20 GPUs, 40 CPUs. c borrows 4 GPUs and 32 CPUs.
    assert math.isclose(dominant_resource_share(tree, "c"), (32 / 40) / 2.0)
    assert dominant_resource_share(tree, "a") == 0.0
    assert dominant_resource_share(tree, "org") == 0.0  # a root borrows from nobody


def test_a_queue_within_its_quota_goes_before_a_borrower() -> None:
    tree = three_teams()
    tree.assume(gpus("a-running", "a", 10))
    heads = [gpus("a-more", "a", 1, priority=100), gpus("b-first", "b", 2)]
    assert [w.key for w in fair_share_order(tree, heads)] == ["default/b-first", "default/a-more"]


def test_the_queue_that_borrowed_least_goes_first() -> None:
    tree = three_teams()
    tree.assume(gpus("a-running", "a", 12))
    tree.assume(gpus("b-running", "b", 4))
    heads = [gpus("a-next", "a", 1), gpus("b-next", "b", 1)]
    assert [w.queue for w in fair_share_order(tree, heads)] == ["b", "a"]


def test_weight_lets_a_queue_borrow_proportionally_more() -> None:
    tree = three_teams(weight_c=3.0)
    tree.assume(gpus("a-running", "a", 6))  # borrows 4
    tree.assume(gpus("c-running", "c", 10))  # borrows 8, but weight 3
    heads = [gpus("a-next", "a", 1), gpus("c-next", "c", 1)]
    assert [w.queue for w in fair_share_order(tree, heads)] == ["c", "a"]


def test_weight_zero_borrows_last() -> None:
    tree = three_teams(weight_c=0.0)
    assert math.isinf(dominant_resource_share(tree, "c", gpus("x", "c", 3).request))
    assert dominant_resource_share(tree, "c", gpus("x", "c", 2).request) == 0.0


def test_within_equal_share_priority_then_age_decides() -> None:
    tree = three_teams()
    old = make_workload("old").queue("a").gpus(1).created(1).build()
    new = make_workload("new").queue("b").gpus(1).created(2).build()
    vip = make_workload("vip").queue("c").gpus(1).priority(5).created(3).build()
    assert [w.key for w in fair_share_order(tree, [new, old, vip])] == [
        "default/vip",
        "default/old",
        "default/new",
    ]


def test_admit_heads_reserves_quota_as_it_admits() -> None:
    tree = QuotaTree([make_queue("org").build(), make_queue("a").parent("org").gpus(4).build()])
    decisions = admit_heads(
        tree, [gpus("one", "a", 3), make_workload("two").queue("a").gpus(3).created(1).build()]
    )
    assert isinstance(decisions[0], Admit)
    assert isinstance(decisions[1], Wait) and decisions[1].reason is WaitReason.OVER_QUOTA
    assert tree.is_admitted("default/one") and not tree.is_admitted("default/two")
