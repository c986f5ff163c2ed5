"""Every ``Pending`` the cycle returns names why in one word, which the scheduler counts per queue and reason
(``motherboard_scheduler_waiting_decisions_total``, the Tenants dashboard's "Pending reasons")."""

from __future__ import annotations

from motherboard.scheduler.admission.testing import make_queue
from motherboard.scheduler.cycle import NO_QUEUE, Pending
from tests.unit.scheduler.test_cycle import World


def reasons(world: World) -> dict[str, str]:
    return {a.workload.key: a.reason for a in world.cycle.run(now=0).actions if isinstance(a, Pending)}


def test_admission_waits_carry_admissions_reason() -> None:
    world = World(make_queue("team").gpus(nominal=4).build())
    world.submit("default/over", pods=2, gpus=4, queue="team")  # 8 GPUs where at most 4 are allowed
    world.submit("default/nowhere", pods=1, gpus=1, queue="nope")
    assert reasons(world) == {"default/over": "ExceedsLimit", "default/nowhere": "UnknownQueue"}


def test_a_queue_full_for_now_waits_over_quota() -> None:
    world = World(make_queue("team").gpus(nominal=8).build())
    first = world.submit("default/first", pods=1, gpus=8, queue="team")
    world.submit("default/second", pods=1, gpus=8, queue="team")
    assert reasons(world) == {"default/second": "OverQuota"}
    assert world.cycle.tree.is_admitted(first.key)


def test_placement_failures_say_whether_a_single_pod_or_a_gang_did_not_fit() -> None:
    world = World(nodes=2)  # two nodes of 8 GPUs
    world.submit("default/huge", pods=1, gpus=64, queue=NO_QUEUE)
    world.submit("default/gang", pods=3, gpus=8, queue=NO_QUEUE)
    assert reasons(world) == {"default/huge": "NoFit", "default/gang": "GangNoFit"}
