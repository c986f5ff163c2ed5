"""QueueManager: one head per queue, priority then FIFO, StrictFIFO vs BestEffortFIFO, backoff."""

from __future__ import annotations

import threading

import pytest

from motherboard.scheduler.admission import QueueingStrategy, Workload
from motherboard.scheduler.admission.testing import make_workload
from motherboard.scheduler.queueing import Backoff, QueueManager


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def wl(name: str, queue: str = "q", priority: int = 0, created: float = 0.0) -> Workload:
    return make_workload(name).queue(queue).priority(priority).created(created).gpus(1).build()


def keys(workloads: list[Workload]) -> list[str]:
    return [w.key.removeprefix("default/") for w in workloads]


def drain(manager: QueueManager, now: float = 0.0) -> list[str]:
    """Pop heads until empty, as if every head were admitted."""
    order: list[str] = []
    while heads := manager.heads(now):
        order += keys(heads)
    return order


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def manager(clock: Clock) -> QueueManager:
    return QueueManager(backoff=Backoff(base=10, factor=2, cap=35), clock=clock)


def test_higher_priority_first_then_oldest_first(manager: QueueManager) -> None:
    for workload in [wl("late", created=3), wl("early", created=1), wl("vip", priority=5, created=9)]:
        manager.push(workload)
    assert drain(manager) == ["vip", "early", "late"]


def test_one_head_per_queue(manager: QueueManager) -> None:
    manager.push(wl("a1", "a", created=1))
    manager.push(wl("a2", "a", created=2))
    manager.push(wl("b1", "b", priority=3))
    assert keys(manager.heads()) == ["b1", "a1"]
    assert keys(manager.heads()) == ["a2"]
    assert manager.heads() == []


def test_best_effort_lets_others_pass_an_inadmissible_head(manager: QueueManager, clock: Clock) -> None:
    manager.push(wl("big", created=1))
    manager.push(wl("small", created=2))
    (head,) = manager.heads()
    assert manager.requeue(head) == 10.0
    assert keys(manager.heads()) == ["small"]
    assert manager.heads() == []  # big waits out its backoff
    clock.now = 10.0
    assert keys(manager.heads()) == ["big"]


def test_strict_fifo_blocks_the_queue_behind_its_head(manager: QueueManager, clock: Clock) -> None:
    manager.set_queue("q", QueueingStrategy.STRICT_FIFO)
    manager.push(wl("big", created=1))
    manager.push(wl("small", created=2))
    (head,) = manager.heads()
    manager.requeue(head)
    assert manager.heads() == []  # small must not overtake
    clock.now = 10.0
    assert keys(manager.heads()) == ["big"]


def test_strict_fifo_lets_a_higher_priority_arrival_be_the_new_head(manager: QueueManager) -> None:
    manager.set_queue("q", QueueingStrategy.STRICT_FIFO)
    manager.push(wl("big"))
    manager.requeue(manager.heads()[0])
    manager.push(wl("urgent", priority=9))
    assert keys(manager.heads()) == ["urgent"]


def test_backoff_grows_exponentially_up_to_its_cap(manager: QueueManager, clock: Clock) -> None:
    manager.push(wl("w"))
    retries = []
    for _ in range(4):
        (head,) = manager.heads(clock.now)
        clock.now = manager.requeue(head)
        retries.append(clock.now)
    assert retries == [10.0, 30.0, 65.0, 100.0]
    assert manager.attempts("default/w") == 4
    manager.delete("default/w")  # admitted: history ends
    assert manager.attempts("default/w") == 0


def test_a_workload_parked_again_comes_back_at_its_new_time_only(manager: QueueManager, clock: Clock) -> None:
    # Parked workloads come back in order of their expiry (a heap, not a scan of every parked one): an
    # earlier parking of the same workload, released and parked again since, must not bring it back early,
    # and one deleted while parked must not come back at all.
    manager.push(wl("w", created=1))
    manager.push(wl("gone", created=2))
    manager.requeue(manager.heads()[0])  # w parked until 10
    manager.requeue(manager.heads()[0])  # gone parked until 10
    manager.delete("default/gone")
    manager.notify_capacity_freed()  # w is back at once...
    clock.now = 1.0
    (head,) = manager.heads()
    assert manager.requeue(head) == 21.0  # ...fails again: parked until 1 + 20 (its second backoff)
    clock.now = 10.0
    assert manager.heads() == []  # the first parking's expiry is stale
    clock.now = 21.0
    assert keys(manager.heads()) == ["w"]
    assert manager.heads() == []


def test_freed_capacity_retries_parked_workloads_at_once(manager: QueueManager) -> None:
    manager.push(wl("a", "qa"))
    manager.push(wl("b", "qb"))
    for head in manager.heads():
        manager.requeue(head)
    manager.notify_capacity_freed(["qa"])
    assert keys(manager.heads()) == ["a"]
    manager.notify_capacity_freed()
    assert keys(manager.heads()) == ["b"]


def test_a_requeue_without_backoff_is_retried_next_cycle(manager: QueueManager) -> None:
    manager.push(wl("preemptor"))
    manager.requeue(manager.heads()[0], backoff=False)
    assert keys(manager.heads()) == ["preemptor"]


def test_update_and_delete(manager: QueueManager) -> None:
    manager.push(wl("w", created=1))
    manager.push(wl("x", created=2))
    manager.push(wl("x", priority=4, created=2))  # priority raised: re-sorted, not duplicated
    assert manager.pending() == 2
    assert manager.delete("default/w")
    assert not manager.delete("default/w")
    assert drain(manager) == ["x"]


def test_remove_queue_reports_what_was_pending(manager: QueueManager) -> None:
    manager.push(wl("a", "qa"))
    manager.requeue(wl("b", "qa"))
    assert sorted(manager.remove_queue("qa")) == ["default/a", "default/b"]
    assert manager.pending("qa") == 0


def test_wait_for_heads_wakes_on_push() -> None:
    manager = QueueManager()
    assert not manager.wait_for_heads(timeout=0.01)
    timer = threading.Timer(0.02, manager.push, args=(wl("w"),))
    timer.start()
    assert manager.wait_for_heads(timeout=5)
    timer.join()
