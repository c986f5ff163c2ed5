"""A preemptor's reservation gets the quota its victims freed, ahead of other tenants' heads."""

from __future__ import annotations

from motherboard.scheduler.admission.testing import make_queue
from motherboard.scheduler.cycle import Bind, Evict, Pending
from tests.unit.scheduler.test_cycle import World


def test_the_preemptor_is_admitted_before_a_head_that_would_take_the_quota_its_victims_freed() -> None:
    world = World(
        make_queue("org").gpus(nominal=16).build(),
        make_queue("t0").parent("org").gpus(nominal=8).build(),
        make_queue("t1").parent("org").gpus(nominal=8).build(),
    )
    world.submit("t0/low", pods=2, gpus=8, queue="t0")  # all 16 GPUs, 8 of them borrowed from t1
    (bind,) = world.cycle.run(now=0).actions
    assert isinstance(bind, Bind)
    world.bind(bind)
    world.submit("t0/high", pods=2, gpus=8, queue="t0", priority=5)
    (evict,) = world.cycle.run(now=1).actions
    assert isinstance(evict, Evict) and [v.workload.key for v in evict.victims] == ["t0/low"]
    world.gangs.holding.pop("t0/low")  # the victims are gone
    world.gangs.alive.clear()
    # A head of t1, within its nominal, sorts before t0's borrowing preemptor in fair-share order. Admitted
    # first, it would take quota 'high' needs and then fail to place on the devices reserved for 'high':
    # both would wait for ever.
    world.submit("t1/small", pods=1, gpus=1, queue="t1")
    world.queues.notify_capacity_freed()
    actions = world.cycle.run(now=2).actions
    assert [a.workload.key for a in actions if isinstance(a, Bind)] == ["t0/high"]
    assert [a.workload.key for a in actions if isinstance(a, Pending)] == ["t1/small"]
    assert world.cycle.tree.usage("t0").get_amount("nvidia.com/gpu") == 16000
    assert world.cycle.tree.usage("t1").get_amount("nvidia.com/gpu") == 0
