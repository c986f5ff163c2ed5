"""Reclaim for devices: a queue within its nominal quota whose gang fits the quota but no node, because
borrowers' work holds the GPUs scattered, gets those borrowers' work evicted (minimal, never pushing a borrower
below its own quota), the devices reserved, and binds once the victims are gone."""

from __future__ import annotations

from motherboard.scheduler.admission import QueueSpec, ReclaimFromBorrowers
from motherboard.scheduler.admission.testing import make_queue, make_workload
from motherboard.scheduler.cache import ClusterCache
from motherboard.scheduler.cycle import Bind, Cycle, Evict, Pending
from tests.unit.scheduler.cache.builders import make_node, make_pod
from tests.unit.scheduler.test_cycle import World

GPU = "nvidia.com/gpu"


class Sites(World):
    """Three 8-GPU nodes, each its own site, so a test can put a job on the node it names."""

    def __init__(self, *queues: QueueSpec) -> None:
        super().__init__(*queues, nodes=3)
        self.cache = ClusterCache(
            [make_node(f"n{i}", share=False).gpus(8).site(f"s{i}").build() for i in range(3)]
        )
        self.cycle = Cycle(self.queues, self.cycle.tree, self.cache, self.cycle.placer, self.gangs)  # type: ignore[arg-type]

    def submit_on(self, key: str, gpus: int, queue: str, node: int) -> None:
        self.gangs.pending[key] = [make_pod(f"{key}-0").gpus(gpus).site(f"s{node}").build()]
        self.queues.push(make_workload(key).queue(queue).gpus(gpus).build())


def three_nodes(lender_reclaims: ReclaimFromBorrowers = ReclaimFromBorrowers.ANY, b_owed: int = 4) -> Sites:
    # 24 GPUs on three nodes; "a" is owed 20 of them (or what "b" is not), "b" 4 but may borrow the rest.
    return Sites(
        make_queue("pool").gpus(nominal=24).build(),
        make_queue("a").parent("pool").gpus(nominal=24 - b_owed).preemption(reclaim=lender_reclaims).build(),
        make_queue("b").parent("pool").gpus(nominal=b_owed).build(),
    )


def run_and_bind(world: World, at: float) -> Bind:
    (action,) = world.cycle.run(now=at).actions
    assert isinstance(action, Bind), action
    world.bind(action)
    return action


def scatter(world: Sites) -> None:
    """8 GPUs free in all, but no node with more than 4: b's jobs b1 and b3 fill n0, b2 half of n1, and
    a's own a1 half of n2 (b uses 12, a 4)."""
    for i, (key, queue, node) in enumerate(
        [("default/b1", "b", 0), ("default/b2", "b", 1), ("default/b3", "b", 0), ("default/a1", "a", 2)]
    ):
        world.submit_on(key, 4, queue, node)
        assert run_and_bind(world, at=float(i)).placements[0].node_name == f"n{node}"


def test_an_owed_gang_that_no_node_can_hold_evicts_one_borrowers_job_and_takes_its_node() -> None:
    world = three_nodes()
    scatter(world)
    world.submit("default/a-big", pods=1, gpus=8, queue="a")  # a: 4 + 8 = 12 of its 20, the pool 24 of 24
    (evict,) = world.cycle.run(now=10).actions
    assert isinstance(evict, Evict), evict
    # The newest borrower's job (b3) is tried first but frees only half of n0; b2 frees n1, and b3 is then
    # given back: the set is minimal.
    (victim,) = evict.victims
    assert victim.workload.key == "default/b2" and victim.reason == "ReclaimWhileBorrowing"
    assert {p.node_name for p in evict.nominated} == {"n1"}
    assert "within its nominal quota but no node has room" in evict.message
    # b lost the evicted job's quota at once; a is charged only when it binds, after the victim is gone.
    assert world.cycle.tree.usage("b").get_amount(GPU) == 8_000
    assert not world.cycle.tree.is_admitted("default/a-big")
    world.gangs.alive.difference_update(evict.victim_pods)
    world.gangs.holding.pop(victim.workload.key)
    world.queues.notify_capacity_freed()
    bind = run_and_bind(world, at=11)
    assert bind.workload.key == "default/a-big" and bind.placements == evict.nominated


def test_a_borrower_is_not_evicted_below_its_own_quota() -> None:
    # b owed 10 uses 12: it borrows 2, and any of its 4-GPU jobs would leave it 2 below what it is owed.
    world = three_nodes(b_owed=10)
    scatter(world)
    world.submit("default/a-big", pods=1, gpus=8, queue="a")  # a: 12 of its 14, fits its quota
    (action,) = world.cycle.run(now=10).actions
    assert isinstance(action, Pending) and action.reason == "NoFit", action
    assert world.cycle.tree.usage("b").get_amount(GPU) == 12_000  # nobody evicted
    assert "gang" not in action.message and "0/3 nodes are available" in action.message


def test_a_queue_that_never_reclaims_waits_instead() -> None:
    world = three_nodes(lender_reclaims=ReclaimFromBorrowers.NEVER)
    scatter(world)
    world.submit("default/a-big", pods=1, gpus=8, queue="a")
    (action,) = world.cycle.run(now=10).actions
    assert isinstance(action, Pending) and action.reason == "NoFit", action


def test_a_gang_that_borrows_itself_evicts_nobody_for_devices() -> None:
    world = three_nodes()
    scatter(world)
    world.submit("default/b-big", pods=1, gpus=8, queue="b")  # b would use 20 of its 4: it borrows
    (action,) = world.cycle.run(now=10).actions
    assert isinstance(action, Pending) and action.reason == "NoFit", action


def test_a_reclaim_whose_quota_victims_free_no_node_adds_the_borrowers_job_that_does() -> None:
    world = three_nodes()
    scatter(world)
    world.submit_on("default/b4", 4, "b", 2)  # n2 full too: b uses 16 (borrows 12), 4 GPUs free on n1
    run_and_bind(world, at=5)
    world.submit("default/a-big", pods=1, gpus=8, queue="a")  # the pool would hold 28 of 24: a reclaims
    (evict,) = world.cycle.run(now=10).actions
    assert isinstance(evict, Evict), evict
    # Quota alone picks b4 (the newest borrower's job), which frees half of n2; b2 frees n1 for the gang.
    assert [v.workload.key for v in evict.victims] == ["default/b4", "default/b2"]
    assert {p.node_name for p in evict.nominated} == {"n1"}
    assert evict.message.endswith("preempting default/b4, and default/b2 to make room on the nodes")
    assert world.cycle.tree.usage("b").get_amount(GPU) == 8_000  # b keeps what it is owed, and borrows 4
