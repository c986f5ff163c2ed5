"""When the live scheduler rebuilds its workload-aware plugins from the pods it has seen."""

from __future__ import annotations

from motherboard.scheduler.cache import PodRequest
from motherboard.scheduler.service.recent import RecentWorkload


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_first_pods_rebuild_at_once_later_ones_in_batches_and_not_too_often() -> None:
    clock = Clock()
    recent = RecentWorkload(size=100, min_new=5, min_interval_s=30.0, clock=clock)
    assert not recent.due()  # nothing seen: the empty placer stays
    recent.add(PodRequest("a", cpu_milli=1))
    assert recent.due()
    assert [p.name for p in recent.take()] == ["a"]
    for i in range(4):
        recent.add(PodRequest(f"b{i}", cpu_milli=1))
    clock.now += 60
    assert not recent.due()  # four new pods: not worth a rebuild
    recent.add(PodRequest("b4", cpu_milli=1))
    assert recent.due()
    recent.take()
    for i in range(5):
        recent.add(PodRequest(f"c{i}", cpu_milli=1))
    clock.now += 10
    assert not recent.due()  # enough pods, but only 10 s since the last rebuild
    clock.now += 20
    assert recent.due()


def test_only_the_last_pods_are_kept() -> None:
    recent = RecentWorkload(size=3)
    for i in range(5):
        recent.add(PodRequest(f"p{i}", cpu_milli=1))
    assert [p.name for p in recent.take()] == ["p2", "p3", "p4"]
