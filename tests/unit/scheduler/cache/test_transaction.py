"""Gang placement through a Transaction: all pods or none, never a partial placement."""

from __future__ import annotations

import pytest

from motherboard.scheduler.cache import ClusterCache, TopologyLevel, Transaction
from tests.unit.scheduler.cache.builders import make_node, make_pod, placer_for

SCENARIOS = [
    # (name, gpus per node, pods in the gang, gpus per pod, topology level, expect placed)
    ("fits on two nodes", [4, 4], 2, 4, None, True),
    ("one pod too many", [4, 4], 3, 4, None, False),
    ("same node required but split", [4, 4], 2, 4, TopologyLevel.NODE, False),
    ("same node required and fits", [8, 4], 2, 4, TopologyLevel.NODE, True),
    ("same rack required, retried on the second rack", [4, 4, 4], 2, 4, TopologyLevel.RACK, True),
]


@pytest.mark.parametrize(
    ("name", "gpus", "members", "per_pod", "level", "placed"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_gang_is_placed_all_or_nothing(
    name: str, gpus: list[int], members: int, per_pod: int, level: TopologyLevel | None, placed: bool
) -> None:
    racks = ["r0", "r1", "r1"]
    cache = ClusterCache([make_node(f"n{i}").gpus(g).rack(racks[i]).build() for i, g in enumerate(gpus)])
    gang = [make_pod(f"p{i}").gpus(per_pod).gang("g", level).build() for i in range(members)]
    before = cache.snapshot().state.dev_milli_free.copy()

    outcome = placer_for().schedule_gang(gang, cache)

    assert outcome.ok is placed
    if placed:
        assert {p.pod.name for p in cache.placements()} == {p.name for p in gang}
        if level is not None:
            assert len({cache.placement(p.name).node_name[:2] for p in gang}) >= 1  # type: ignore[union-attr]
    else:
        assert cache.placements() == []
        assert (cache.snapshot().state.dev_milli_free == before).all()


def test_discarded_transaction_leaves_cache_untouched() -> None:
    cache = ClusterCache([make_node("n0").gpus(2).build()])
    placer = placer_for()
    txn = Transaction(cache)
    out = placer.place(make_pod("a").gpus(1).build(), txn.view())
    assert out.placement is not None
    txn.allocate(out.placement)
    assert txn.view().state.dev_milli_free[0].sum() == 1000
    txn.discard()
    assert cache.placements() == []
    assert cache.snapshot().state.dev_milli_free[0].sum() == 2000


def test_eviction_in_a_transaction_frees_room_only_on_commit() -> None:
    cache = ClusterCache([make_node("n0").gpus(1).build()])
    placer = placer_for()
    victim = placer.place(make_pod("victim").gpus(1).build(), cache.snapshot()).placement
    assert victim is not None
    cache.assume(victim)
    txn = Transaction(cache)
    txn.evict("victim")
    out = placer.place(make_pod("urgent").gpus(1).build(), txn.view())
    assert out.placement is not None
    txn.allocate(out.placement)
    assert cache.placement("victim") is not None  # not yet committed
    txn.commit()
    assert cache.placement("victim") is None
    assert cache.placement("urgent") is not None


def test_snapshot_is_immutable() -> None:
    cache = ClusterCache([make_node("n0").gpus(1).build()])
    snap = cache.snapshot()
    with pytest.raises(ValueError, match="read-only"):
        snap.state.dev_milli_free[0, 0] = 0
