"""Preemption within a queue and reclaim of lent quota: minimal victims, never a protected workload."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from motherboard.scheduler.admission import (
    Admit,
    Preempt,
    PreemptionReason,
    QuotaTree,
    ReclaimFromBorrowers,
    Wait,
    WithinQueue,
    Workload,
    admit_heads,
    decide,
)
from motherboard.scheduler.admission.testing import make_queue, make_workload


def gpus(name: str, queue: str, count: float, priority: int = 0, *, protected: bool = False) -> Workload:
    builder = make_workload(name).queue(queue).gpus(count).priority(priority)
    return (builder.non_preemptible() if protected else builder).build()


def team_tree(
    within: WithinQueue = WithinQueue.LOWER_PRIORITY, reclaim: ReclaimFromBorrowers = ReclaimFromBorrowers.ANY
) -> QuotaTree:
    """org ── team-a (8 GPUs), team-b (4 GPUs); both with the same preemption policy."""
    return QuotaTree(
        [
            make_queue("org").build(),
            make_queue("team-a").parent("org").gpus(8).preemption(within, reclaim).build(),
            make_queue("team-b").parent("org").gpus(4).preemption(within, reclaim).build(),
        ]
    )


def running(tree: QuotaTree, *workloads: Workload) -> None:
    for at, workload in enumerate(workloads):
        tree.assume(workload, now=float(at))  # later in the list = admitted later = newer


@dataclass
class Case:
    name: str
    running: list[Workload]
    incoming: Workload
    victims: list[str] | None  # None: must wait
    within: WithinQueue = WithinQueue.LOWER_PRIORITY
    reclaim: ReclaimFromBorrowers = ReclaimFromBorrowers.ANY


def a(name: str, count: float, priority: int = 0, *, protected: bool = False) -> Workload:
    return gpus(name, "team-a", count, priority, protected=protected)


def b(name: str, count: float, priority: int = 0, *, protected: bool = False) -> Workload:
    return gpus(name, "team-b", count, priority, protected=protected)


CASES = [
    Case(
        "one big low-priority victim beats several small ones",
        [a("small1", 2), a("small2", 2), a("big", 4, priority=-1), b("b", 4)],
        a("urgent", 4, priority=10),
        ["default/big"],
    ),
    Case(
        "drop back victims that are not needed",
        # Greedy order (lowest priority, newest) takes x1 (1 GPU) then x4 (4 GPUs); x1 alone is useless.
        [a("x4", 4, priority=1), a("x1", 1, priority=0), a("x3", 3, priority=2), b("b", 4)],
        a("urgent", 4, priority=10),
        ["default/x4"],
    ),
    Case(
        "never a non-preemptible workload",
        [a("keep", 8, protected=True), b("b", 4)],
        a("urgent", 1, priority=10),
        None,
    ),
    Case(
        "never equal or higher priority",
        [a("same", 4, priority=10), a("higher", 4, priority=11), b("b", 4)],
        a("urgent", 1, priority=10),
        None,
    ),
    Case(
        "newer equal priority may go when the policy says so",
        [
            a("old", 4, priority=10),
            make_workload("new").queue("team-a").gpus(4).priority(10).created(9).build(),
            b("b", 4),
        ],
        make_workload("urgent").queue("team-a").gpus(4).priority(10).created(5).build(),
        ["default/new"],
        within=WithinQueue.LOWER_OR_NEWER_EQUAL_PRIORITY,
    ),
    Case(
        "within-queue preemption can be turned off",
        [a("low", 8), b("b", 4)],
        a("urgent", 1, priority=10),
        None,
        within=WithinQueue.NEVER,
    ),
    Case(
        "a gang is evicted whole: the 8-pod job goes, not some of its pods",
        [
            make_workload("gang").queue("team-a").pod_requests({"nvidia.com/gpu": 1}, pods=8).build(),
            b("b", 4),
        ],
        a("urgent", 1, priority=10),
        ["default/gang"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_preemption_scenarios(case: Case) -> None:
    tree = team_tree(case.within, case.reclaim)
    running(tree, *case.running)
    usage_before = {q: tree.usage(q) for q in tree.queues()}
    decision = decide(tree, case.incoming)
    if case.victims is None:
        assert isinstance(decision, Wait), decision
    else:
        assert isinstance(decision, Preempt), decision
        assert sorted(v.workload.key for v in decision.victims) == case.victims
        assert all(v.workload.preemptible for v in decision.victims)
    assert {q: tree.usage(q) for q in tree.queues()} == usage_before, "planning must leave no trace"


def test_reclaim_returns_borrowed_quota_to_its_owner() -> None:
    tree = team_tree()
    # team-b borrows 6 of team-a's 8 idle GPUs; then team-a wants all 8 back.
    running(tree, b("b-own", 4), b("b-borrow-1", 3, priority=100), b("b-borrow-2", 3, priority=100))
    decision = decide(tree, a("owner", 8))
    assert isinstance(decision, Preempt)
    assert {v.reason for v in decision.victims} == {PreemptionReason.RECLAIM}
    for victim in decision.victims:
        tree.forget(victim.workload.key)
    assert isinstance(decide(tree, a("owner", 8)), Admit)
    assert not tree.is_borrowing("team-b")
    assert len(decision.victims) == 2


def test_reclaim_takes_newest_borrowed_work_first_and_stops_when_the_borrower_is_within_quota() -> None:
    tree = team_tree()
    running(tree, b("b1", 4), b("b2", 4), b("b3", 4))  # team-b: 12 of which 8 borrowed
    decision = decide(tree, a("owner", 4))
    assert isinstance(decision, Preempt)
    assert [v.workload.key for v in decision.victims] == ["default/b3"]


def test_reclaim_is_only_from_borrowers() -> None:
    tree = team_tree()
    running(tree, a("a-own", 8, priority=0), b("b-own", 4, priority=-5))
    # team-b is within its nominal: team-a's urgent work can only preempt inside team-a.
    decision = decide(tree, a("urgent", 2, priority=10))
    assert isinstance(decision, Preempt)
    assert [(v.workload.key, v.reason) for v in decision.victims] == [
        ("default/a-own", PreemptionReason.WITHIN_QUEUE)
    ]


def test_reclaim_lower_priority_policy_spares_more_important_borrowers() -> None:
    tree = team_tree(reclaim=ReclaimFromBorrowers.LOWER_PRIORITY)
    running(tree, b("b-own", 4, priority=50), b("b-borrow", 8, priority=50))
    assert isinstance(decide(tree, a("owner", 4, priority=10)), Wait)
    assert isinstance(decide(tree, a("owner", 4, priority=60)), Preempt)


def test_a_borrowing_queue_does_not_reclaim() -> None:
    tree = team_tree()
    running(tree, a("a-borrow", 12, priority=100))
    # team-b is under nominal and may reclaim; team-a borrowing more would not be reclaiming.
    decision = decide(tree, b("owner", 4))
    assert isinstance(decision, Preempt)
    assert decision.victims[0].reason is PreemptionReason.RECLAIM


def test_two_preemptors_in_one_cycle_never_share_a_victim() -> None:
    tree = team_tree()
    running(tree, a("low", 8), b("b", 4))
    decisions = admit_heads(tree, [a("first", 8, priority=10), a("second", 8, priority=9)])
    preempts = [d for d in decisions if isinstance(d, Preempt)]
    assert len(preempts) == 1
    assert isinstance(decisions[1], Wait)


def test_victim_messages_name_the_preemptor() -> None:
    tree = team_tree()
    running(tree, a("low", 8), b("b", 4))
    decision = decide(tree, a("urgent", 1, priority=10))
    assert isinstance(decision, Preempt)
    assert decision.victims[0].message == ("preempted in queue team-a by default/urgent (priority 10 > 0)")
