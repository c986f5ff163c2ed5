"""The scheduling cycle on the pure core: gangs bind whole or not at all, quota waits, preemption reserves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from motherboard.scheduler.admission import QuotaTree, Workload
from motherboard.scheduler.admission.testing import make_queue, make_workload
from motherboard.scheduler.cache import ClusterCache, PodRequest
from motherboard.scheduler.cycle import NO_QUEUE, Bind, Cycle, Evict, Pending
from motherboard.scheduler.placement import Placer, shipped_profile
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.queueing import QueueManager
from tests.unit.scheduler.cache.builders import make_node, make_pod


@dataclass
class FakeGangs:
    """The adapter's side of the cycle, as plain dicts."""

    pending: dict[str, list[PodRequest]] = field(default_factory=dict)
    holding: dict[str, list[str]] = field(default_factory=dict)
    alive: set[str] = field(default_factory=set)

    def members(self, key: str) -> Sequence[PodRequest]:
        return self.pending.get(key, [])

    def pods_of(self, key: str) -> Sequence[str]:
        return self.holding.get(key, [])

    def any_alive(self, pods: Sequence[str]) -> bool:
        return any(p in self.alive for p in pods)


class World:
    def __init__(self, *queues: object, nodes: int = 2) -> None:
        self.clock = 0.0
        self.queues = QueueManager(clock=lambda: self.clock)
        self.cache = ClusterCache([make_node(f"n{i}", share=False).gpus(8).build() for i in range(nodes)])
        self.gangs = FakeGangs()
        placer = Placer(shipped_profile(), default_registry())
        self.cycle = Cycle(self.queues, QuotaTree(queues), self.cache, placer, self.gangs)  # type: ignore[arg-type]

    def submit(self, key: str, pods: int, gpus: int, queue: str = NO_QUEUE, priority: int = 0) -> Workload:
        members = [make_pod(f"{key}-{i}").gpus(gpus).build() for i in range(pods)]
        self.gangs.pending[key] = members
        workload = make_workload(key).queue(queue).gpus(pods * gpus).priority(priority).build()
        self.queues.push(workload)
        return workload

    def bind(self, action: Bind) -> None:
        """Play the adapter: the pods are bound and hold the workload's quota."""
        names = [p.pod.name for p in action.placements]
        self.gangs.pending.pop(action.workload.key)
        self.gangs.holding[action.workload.key] = names
        self.gangs.alive.update(names)
        for name in names:
            self.cache.confirm(name)


def test_a_gang_that_fits_is_assumed_whole_with_one_assignment_per_pod() -> None:
    world = World()
    world.submit("default/train", pods=4, gpus=4)
    (action,) = world.cycle.run(now=0).actions
    assert isinstance(action, Bind) and len(action.placements) == 4
    assert all(world.cache.placement(p.pod.name) is not None for p in action.placements)
    for placement, assignment in zip(action.placements, action.assignments, strict=True):
        assert assignment.node == placement.node_name
        assert len(assignment.containers[0].devices) == 4


def test_a_gang_that_does_not_fit_leaves_no_trace_and_says_how_many_fit() -> None:
    world = World()
    world.submit("default/big", pods=4, gpus=5)  # one 5-GPU pod per 8-GPU node: 2 of 4 fit
    (action,) = world.cycle.run(now=0).actions
    assert isinstance(action, Pending)
    assert action.message.startswith("gang needs 4 pods but 2 fit: 0/2 nodes are available")
    assert world.cache.placements() == []
    assert world.queues.pending() == 1, "requeued with backoff"


def test_a_workload_over_its_queue_quota_waits_with_the_quota_reason_and_holds_nothing() -> None:
    world = World(make_queue("team").gpus(nominal=4).build())
    world.submit("default/train", pods=2, gpus=4, queue="team")
    (action,) = world.cycle.run(now=0).actions
    assert isinstance(action, Pending) and "can never run in queue team" in action.message
    assert action.never, "a verdict only a quota change can alter is marked NeverFits for the operator"
    assert world.cache.placements() == [] and not world.cycle.tree.is_admitted("default/train")


def test_an_unknown_queue_waits_and_says_the_queue_does_not_exist() -> None:
    world = World(make_queue("team").gpus(nominal=4).build())
    world.submit("default/x", pods=1, gpus=1, queue="nope")
    (action,) = world.cycle.run(now=0).actions
    assert isinstance(action, Pending) and action.message == "queue nope does not exist"


def test_a_failed_placement_returns_the_quota_it_was_admitted_with() -> None:
    world = World(make_queue("team").gpus(nominal=64).build())
    world.submit("default/big", pods=4, gpus=5, queue="team")
    world.cycle.run(now=0)
    assert world.cycle.tree.usage("team").get_amount("nvidia.com/gpu") == 0


def test_preemption_reserves_the_victims_devices_and_binds_only_after_they_are_gone() -> None:
    world = World(make_queue("team").gpus(nominal=16).build())
    low = world.submit("default/low", pods=2, gpus=8, queue="team", priority=1)
    (first,) = world.cycle.run(now=0).actions
    assert isinstance(first, Bind)
    world.bind(first)
    world.submit("default/high", pods=2, gpus=8, queue="team", priority=10)
    (evict,) = world.cycle.run(now=0).actions
    assert isinstance(evict, Evict) and [v.workload.key for v in evict.victims] == [low.key]
    assert set(evict.victim_pods) == {"default/low-0", "default/low-1"}
    assert {p.pod.name for p in world.cache.placements()} == {"default/high-0", "default/high-1"}
    # The victims still exist: the preemptor waits, but keeps its reservation.
    world.clock = 10
    (wait,) = world.cycle.run().actions
    assert isinstance(wait, Pending) and "preempted pods" in wait.message
    world.gangs.alive.clear()
    world.clock = 100
    (bind,) = world.cycle.run().actions
    assert isinstance(bind, Bind) and bind.placements == evict.nominated


def test_work_without_a_queue_is_placed_without_quota() -> None:
    world = World()
    world.submit("default/plain", pods=1, gpus=1)
    (action,) = world.cycle.run(now=0).actions
    assert isinstance(action, Bind) and world.cycle.tree.queues() == []


@pytest.mark.parametrize("limit", [1, 3])
def test_a_cycle_takes_at_most_limit_workloads(limit: int) -> None:
    world = World()
    for i in range(5):
        world.submit(f"default/p{i}", pods=1, gpus=1)
    assert len(world.cycle.run(now=0, limit=limit).actions) == limit


def test_one_cycle_places_many_workloads_on_one_snapshot_and_assumes_them_once() -> None:
    world = World(nodes=2)
    for i in range(4):
        world.submit(f"default/solo{i}", pods=1, gpus=4)  # 4 × 4 GPUs fill both nodes exactly
    world.submit("default/late", pods=1, gpus=1)
    copies = 0
    snapshot = world.cache.snapshot

    def counting_snapshot() -> object:
        nonlocal copies
        copies += 1
        return snapshot()

    world.cache.snapshot = counting_snapshot  # type: ignore[method-assign]
    actions = world.cycle.run(now=0).actions
    binds = [a for a in actions if isinstance(a, Bind)]
    assert len(binds) == 4 and copies == 1, "one snapshot for the whole cycle"
    assert [type(a) for a in actions].count(Pending) == 1
    assert len(world.cache.placements()) == 4, "the batch is assumed when the cycle ends"
    assert sorted(p.node_name for b in binds for p in b.placements) == ["n0", "n0", "n1", "n1"]


def test_a_gang_that_fails_inside_a_batch_leaves_the_other_gangs_placed() -> None:
    world = World(nodes=2)
    world.submit("default/a", pods=1, gpus=8)
    world.submit("default/big", pods=3, gpus=8)  # needs three nodes: rolls back its own allocations only
    world.submit("default/c", pods=1, gpus=8)
    actions = world.cycle.run(now=0).actions
    bound = sorted(a.workload.key for a in actions if isinstance(a, Bind))
    assert bound == ["default/a", "default/c"]
    assert {p.pod.name for p in world.cache.placements()} == {"default/a-0", "default/c-0"}
