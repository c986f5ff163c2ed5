"""Quota admission: nominal, borrowing and lending limits, hierarchy, and the messages users read."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from motherboard.scheduler.admission import (
    Admit,
    Preempt,
    QueueConfigError,
    QueueSpec,
    QuotaTree,
    Wait,
    WaitReason,
    Workload,
    decide,
)
from motherboard.scheduler.admission.testing import make_queue, make_workload


def two_teams(a_borrow: float | None = None, b_lend: float | None = None) -> list[QueueSpec]:
    """org (no quota) ── team-a (8 GPUs), team-b (4 GPUs)."""
    return [
        make_queue("org").build(),
        make_queue("team-a").parent("org").gpus(8, borrowing=a_borrow).build(),
        make_queue("team-b").parent("org").gpus(4, lending=b_lend).build(),
    ]


def gpus(name: str, queue: str, count: float, priority: int = 0) -> Workload:
    return make_workload(name).queue(queue).gpus(count).priority(priority).build()


@dataclass
class Case:
    name: str
    specs: list[QueueSpec]
    running: list[Workload]
    incoming: Workload
    admitted: bool
    reason: WaitReason | None = None
    message: str | None = None
    notes: list[str] = field(default_factory=list)


CASES = [
    Case("fits nominal", two_teams(), [], gpus("w", "team-a", 8), admitted=True),
    Case(
        "borrows unused sibling quota",
        two_teams(),
        [],
        gpus("w", "team-a", 12),
        admitted=True,
    ),
    Case(
        "borrowing limit caps usage at nominal + limit",
        two_teams(a_borrow=2),
        [],
        gpus("w", "team-a", 11),
        admitted=False,
        reason=WaitReason.EXCEEDS_LIMIT,
        message="default/w can never run in queue team-a: it needs 11 GPUs, and the most the queue can ever "
        "hold is 10 GPUs (its nominal 8 GPUs + borrowing limit 2 GPUs)",
    ),
    Case(
        "lending limit caps what siblings borrow",
        two_teams(b_lend=1),
        [],
        gpus("w", "team-a", 10),
        admitted=False,
        reason=WaitReason.EXCEEDS_LIMIT,
    ),
    Case(
        "lending limit still lends what it allows",
        two_teams(b_lend=1),
        [],
        gpus("w", "team-a", 9),
        admitted=True,
    ),
    Case(
        "over quota while the sibling uses its own quota",
        two_teams(a_borrow=4),
        [gpus("b1", "team-b", 2), gpus("a1", "team-a", 6, priority=5)],
        gpus("w", "team-a", 8),
        admitted=False,
        reason=WaitReason.OVER_QUOTA,
        message="queue team-a has 4 GPUs free, default/w needs 8 GPUs: its parent queue org uses 8 GPUs of "
        "its nominal 12 GPUs",
    ),
    Case(
        "unknown queue",
        two_teams(),
        [],
        gpus("w", "nope", 1),
        admitted=False,
        reason=WaitReason.UNKNOWN_QUEUE,
    ),
    Case(
        "parent queues hold no work",
        two_teams(),
        [],
        gpus("w", "org", 1),
        admitted=False,
        reason=WaitReason.NOT_A_LEAF,
    ),
    Case(
        "resources no queue has quota for are not limited",
        two_teams(),
        [],
        make_workload("w").queue("team-a").gpus(1).units("cpu", 10**9).build(),
        admitted=True,
    ),
    Case(
        "a root queue cannot borrow",
        [make_queue("solo").gpus(2).build()],
        [],
        gpus("w", "solo", 3),
        admitted=False,
        reason=WaitReason.EXCEEDS_LIMIT,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_admission_scenarios(case: Case) -> None:
    tree = QuotaTree(case.specs)
    for workload in case.running:
        tree.assume(workload)
    decision = decide(tree, case.incoming)
    assert isinstance(decision, Admit) == case.admitted, decision
    if case.reason is not None:
        assert isinstance(decision, Wait)
        assert decision.reason is case.reason
    if case.message is not None:
        assert isinstance(decision, Wait)
        assert decision.message == case.message


def three_levels() -> QuotaTree:
    """company 16 ── research (nominal 8, borrowing 2) ── {vision 4, nlp 4}; company ── prod 8."""
    return QuotaTree(
        [
            make_queue("company").gpus(16).build(),
            make_queue("research").parent("company").gpus(8, borrowing=2).build(),
            make_queue("vision").parent("research").gpus(4).build(),
            make_queue("nlp").parent("research").gpus(4).build(),
            make_queue("prod").parent("company").gpus(8).build(),
        ]
    )


def test_a_parent_borrowing_limit_bounds_all_its_children() -> None:
    tree = three_levels()
    # vision may take nlp's idle 4 plus the 2 research may borrow from prod, not prod's whole 8.
    assert tree.capacity("vision", "nvidia.com/gpu") == 10_000
    assert isinstance(decide(tree, gpus("big", "vision", 10)), Admit)
    assert isinstance(decide(tree, gpus("too-big", "vision", 11)), Wait)


def test_usage_of_a_team_counts_against_its_department() -> None:
    tree = three_levels()
    tree.assume(gpus("v", "vision", 7))  # 4 own, 3 of nlp's
    assert tree.available("nlp", "nvidia.com/gpu") == 3000  # its 1 left + research's 2 from prod
    assert tree.available("prod", "nvidia.com/gpu") == 9000  # its 8 + the GPU research leaves idle
    tree.assume(gpus("n", "nlp", 3))  # research now uses 10: borrows 2 from prod
    assert tree.available("prod", "nvidia.com/gpu") == 6000
    assert tree.available("vision", "nvidia.com/gpu") == 0


def test_a_parent_nominal_is_counted_once() -> None:
    # Issue 14: a parent of 16 GPUs with two children of 8 ran 20 and then 32 GPUs (its nominal was added
    # on top of its children's). Its nominal covers theirs: together they never exceed 16.
    tree = QuotaTree(
        [
            make_queue("org").gpus(16).build(),
            make_queue("a").parent("org").gpus(8).build(),
            make_queue("b").parent("org").gpus(8).build(),
        ]
    )
    assert tree.capacity("a", "nvidia.com/gpu") == 16_000
    tree.assume(gpus("a1", "a", 12))
    assert tree.available("b", "nvidia.com/gpu") == 4000
    assert isinstance(decide(tree, gpus("b1", "b", 5)), Wait | Preempt)
    tree.assume(gpus("b1", "b", 4))
    assert tree.usage("org").get_amount("nvidia.com/gpu") == 16_000
    assert tree.available("a", "nvidia.com/gpu") == 0 and tree.available("b", "nvidia.com/gpu") == 0


def test_a_borrower_below_a_parent_of_its_own_limit_can_be_reclaimed_from() -> None:
    # With the parent counted twice, a borrower never looked like one and reclaim never triggered.
    tree = QuotaTree(
        [
            make_queue("org").gpus(16).build(),
            make_queue("a").parent("org").gpus(8, borrowing=8).build(),
            make_queue("b").parent("org").gpus(8).build(),
        ]
    )
    tree.assume(gpus("a-big", "a", 16))
    decision = decide(tree, gpus("b-own", "b", 8))
    assert isinstance(decision, Preempt)
    assert [v.workload.key for v in decision.victims] == ["default/a-big"]


def test_forget_returns_quota_exactly() -> None:
    tree = three_levels()
    workload = gpus("v", "vision", 9)
    tree.assume(workload)
    tree.forget(workload.key)
    for queue in tree.queues():
        assert not tree.usage(queue), queue
    assert tree.forget("never-admitted") is None


@pytest.mark.parametrize(
    "specs",
    [
        [make_queue("a").parent("missing").build()],
        [make_queue("a").parent("b").build(), make_queue("b").parent("a").build()],
        [make_queue("a").build(), make_queue("a").build()],
    ],
    ids=["unknown parent", "cycle", "duplicate"],
)
def test_a_malformed_tree_is_a_config_error(specs: list[QueueSpec]) -> None:
    with pytest.raises(QueueConfigError):
        QuotaTree(specs)
