"""Stranding: GPU milli that a node's CPU or memory can no longer feed, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from motherboard.scheduler.cache import ClusterCache, PodRequest
from motherboard.scheduler.placement.framework import CycleState, PluginContext
from motherboard.scheduler.placement.placer import Placer
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.placement.plugins.stranding import Stranding, demand_ratios
from motherboard.scheduler.placement.profile import Profile, ScoreEntry
from tests.unit.scheduler.cache.builders import make_node, make_pod

# Device pods ask 1000 milli-GPU per 10 cores and per 40 GiB: a = 0.1 milli-GPU per milli-CPU, b = 1000/40960.
WORKLOAD = (make_pod("w").cpu(10_000).memory(40_960).gpus(1).build(), PodRequest("c", cpu_milli=4_000))


def _scores(pod: PodRequest, cache: ClusterCache, plugin: Stranding) -> list[float]:
    snap = cache.snapshot()
    return [float(x) for x in plugin.score(CycleState(), pod, snap, np.arange(snap.size))]


def test_ratios_come_from_device_pods_only() -> None:
    a, b = demand_ratios(WORKLOAD)
    assert a == pytest.approx(0.1)
    assert b == pytest.approx(1000 / 40_960)


def test_a_cpu_only_pod_goes_where_cores_are_to_spare() -> None:
    # n0: 2 GPUs, 20 cores (exactly enough for 2 device pods); n1: 8 GPUs, 100 cores (20 to spare).
    cache = ClusterCache(
        [
            make_node("n0", cpu=20_000, memory=1 << 20).gpus(2).build(),
            make_node("n1", cpu=100_000, memory=1 << 20).gpus(8).build(),
        ]
    )
    plugin = Stranding(*demand_ratios(WORKLOAD))
    pod = PodRequest("c", cpu_milli=16_000)
    # n0 after: 2000 - 0.1 * 4000 = 1600 milli-GPU stranded; n1 after: 8000 - 0.1 * 84000 < 0, none.
    assert _scores(pod, cache, plugin) == pytest.approx([-1600.0, 0.0])
    profile = Profile("s", filter=("resources-fit",), score=(ScoreEntry("stranding"),))
    placer = Placer(profile, default_registry(), PluginContext(workload=WORKLOAD))
    placed = placer.place(pod, cache.snapshot()).placement
    assert placed is not None and placed.node_name == "n1"


def test_memory_strands_too_unless_turned_off() -> None:
    cache = ClusterCache([make_node("n0", cpu=1_000_000, memory=81_920).gpus(2).build()])
    pod = PodRequest("m", cpu_milli=0, memory_mib=40_960)
    # After: 2000 GPU milli with 40 GiB left, which feeds 1000: 1000 stranded.
    assert _scores(pod, cache, Stranding(*demand_ratios(WORKLOAD))) == pytest.approx([-1000.0])
    assert _scores(pod, cache, Stranding(*demand_ratios(WORKLOAD), memory=False)) == [0.0]


def test_no_device_pods_means_no_opinion() -> None:
    plugin = default_registry().create(
        "stranding", {}, PluginContext(workload=(PodRequest("c", cpu_milli=1),))
    )
    assert isinstance(plugin, Stranding)
    cache = ClusterCache([make_node("n0", cpu=4_000).gpus(2).build()])
    assert _scores(PodRequest("c", cpu_milli=4_000), cache, plugin) == [0.0]
