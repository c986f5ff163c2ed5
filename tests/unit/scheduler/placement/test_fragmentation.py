"""The fragmentation measure against a hand-worked example, and FGD's choice following from it."""

from __future__ import annotations

import numpy as np
import pytest

from motherboard.scheduler.cache import ClusterCache, PodRequest
from motherboard.scheduler.cache.state import Catalog
from motherboard.scheduler.placement.fragmentation import ClassTable, Workload, node_fragmentation
from motherboard.scheduler.placement.framework import PluginContext
from motherboard.scheduler.placement.placer import Placer
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.placement.profile import Profile, ScoreEntry
from tests.unit.scheduler.cache.builders import make_node, make_pod


def test_fragmentation_matches_hand_worked_example() -> None:
    # Workload: half the tasks want 0.5 GPU and 4 cores, a quarter one whole GPU and 8 cores, a quarter
    # are CPU-only (2 cores). Node: 2 GPUs with 300 and 1000 milli free, 6 cores free.
    pods = [make_pod(f"s{i}").cpu(4000).share(500).build() for i in range(2)]
    pods += [make_pod("w").cpu(8000).gpus(1).build(), PodRequest("c", cpu_milli=2000)]
    catalog = Catalog(models=["A100-80GB"])
    table = ClassTable.build(Workload.from_pods(pods, coverage=1.0), catalog)
    frag = node_fragmentation(np.array([[300, 1000]]), np.array([6000]), np.array([0]), table)
    # share class: fits (6 >= 4 cores, one GPU has >= 500): the 300 left on GPU 0 is fragment -> 0.5 * 300
    # whole class: 8 cores > 6 free: all 1300 idle milli is fragment                        -> 0.25 * 1300
    # CPU-only class: never uses GPUs: all 1300 is fragment                                  -> 0.25 * 1300
    assert frag[0] == pytest.approx(0.5 * 300 + 0.25 * 1300 + 0.25 * 1300)


def test_popularity_keeps_the_common_classes_covering_the_threshold() -> None:
    pods = [make_pod(f"a{i}").cpu(1000).share(500).build() for i in range(90)]
    pods += [make_pod(f"b{i}").cpu(1000).gpus(8).build() for i in range(10)]
    workload = Workload.from_pods(pods, coverage=0.9)
    assert len(workload.keys) == 1 and workload.prob[0] == 1.0


def test_fgd_puts_a_share_where_it_adds_no_fragment() -> None:
    # n0's GPU has 500 free: a 0.5 share there fills it exactly; on n1 it would split a whole GPU.
    cache = ClusterCache([make_node("n0").gpus(1).build(), make_node("n1").gpus(1).build()])
    workload = tuple(make_pod(f"w{i}").cpu(1000).share(500).build() for i in range(4))
    profile = Profile(
        "fgd", filter=("resources-fit", "device-fit"), score=(ScoreEntry("fgd"),), device_select="fgd"
    )
    placer = Placer(profile, default_registry(), PluginContext(workload=workload))
    first = placer.place(make_pod("x").cpu(1000).share(500).build(), cache.snapshot()).placement
    assert first is not None
    cache.assume(first)
    second = placer.place(make_pod("y").cpu(1000).share(500).build(), cache.snapshot()).placement
    assert second is not None and second.node == first.node
