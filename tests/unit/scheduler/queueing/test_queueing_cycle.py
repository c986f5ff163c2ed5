"""The admission half of a scheduling cycle, wired as the scheduler wires it: heads → decide → requeue."""

from __future__ import annotations

from motherboard.scheduler.admission import Admit, Preempt, QuotaTree, Wait, admit_heads
from motherboard.scheduler.admission.testing import make_queue, make_workload
from motherboard.scheduler.queueing import QueueManager


def run_cycle(manager: QueueManager, tree: QuotaTree, now: float) -> list[str]:
    """One cycle; returns what happened, e.g. ``["admit default/a", "evict default/b"]``."""
    log: list[str] = []
    for decision in admit_heads(tree, manager.heads(now), now):
        match decision:
            case Admit(workload):
                manager.delete(workload.key)
                log.append(f"admit {workload.key}")
            case Preempt(workload, victims, _):
                for victim in victims:
                    tree.forget(victim.workload.key)  # the victim's pods are deleted
                    log.append(f"evict {victim.workload.key}")
                manager.requeue(workload, now, backoff=False)
            case Wait(workload):
                manager.requeue(workload, now)
    return log


def test_a_high_priority_job_preempts_then_is_admitted_next_cycle() -> None:
    tree = QuotaTree([make_queue("org").build(), make_queue("a").parent("org").gpus(4).build()])
    manager = QueueManager(clock=lambda: 0.0)
    manager.push(make_workload("batch").queue("a").gpus(4).build())
    assert run_cycle(manager, tree, 0.0) == ["admit default/batch"]
    manager.push(make_workload("urgent").queue("a").gpus(2).priority(10).build())
    assert run_cycle(manager, tree, 1.0) == ["evict default/batch"]
    assert run_cycle(manager, tree, 2.0) == ["admit default/urgent"]


def test_fair_share_decides_which_queue_gets_the_last_borrowable_gpus() -> None:
    tree = QuotaTree(
        [
            make_queue("org").gpus(6).build(),  # a's 2 + b's 2 + 2 spare
            make_queue("a").parent("org").gpus(2).build(),
            make_queue("b").parent("org").gpus(2).build(),
        ]
    )
    tree.assume(make_workload("a-running").queue("a").gpus(3).priority(200).build())  # borrows one
    manager = QueueManager(clock=lambda: 0.0)
    manager.push(make_workload("a-more").queue("a").gpus(2).priority(100).build())
    manager.push(make_workload("b-more").queue("b").gpus(3).build())
    # b borrows less after admission than a would, so b goes first despite a's priority.
    assert run_cycle(manager, tree, 0.0) == ["admit default/b-more"]
