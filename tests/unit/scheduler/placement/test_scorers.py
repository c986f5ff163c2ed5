"""Packing scorers against hand-worked cases: GpuPacking (as published), device best fit, waste gradient."""

from __future__ import annotations

import numpy as np
import pytest

from motherboard.scheduler.cache import ClusterCache, DevicePick, Placement, PodRequest
from motherboard.scheduler.placement.framework import CycleState, PluginContext
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.placement.plugins.baselines import GpuPacking
from motherboard.scheduler.placement.plugins.gpufit import GpuFit
from motherboard.scheduler.placement.plugins.wastegradient import WasteGradient, expected_waste
from tests.unit.scheduler.cache.builders import make_node, make_pod


def _cluster(*loads: list[int]) -> ClusterCache:
    """One node per entry; each GPU's list value is the milli already taken on it."""
    cache = ClusterCache([make_node(f"n{i}").gpus(len(load)).build() for i, load in enumerate(loads)])
    for i, load in enumerate(loads):
        for g, used in enumerate(load):
            if used:
                pod = make_pod(f"u{i}-{g}").cpu(0).share(used).build() if used < 1000 else None
                pod = pod or make_pod(f"u{i}-{g}").cpu(0).gpus(1).build()
                cache.assume(Placement(pod, i, f"n{i}", (DevicePick(g, used, 0),)))
    return cache


def _score(plugin: object, pod: PodRequest, cache: ClusterCache) -> list[float]:
    snap = cache.snapshot()
    scores = plugin.score(CycleState(), pod, snap, np.arange(snap.size))  # type: ignore[attr-defined]
    return [float(x) for x in scores]


def test_gpu_packing_scores_the_three_published_cases() -> None:
    cache = _cluster([300, 0], [1000, 0], [0, 0])
    share = make_pod("s").share(500).build()
    # n0: shares GPU 0 (700 free, 70 %): 100 - 70 // 10 = 93; n1: must use a whole GPU: 50 - 1 = 49;
    # n2: every GPU free: max(33 - 2, 2) = 31.
    assert _score(GpuPacking(), share, cache) == [93.0, 49.0, 31.0]


def test_gpu_packing_leaves_cpu_only_pods_to_the_tie_break() -> None:
    cache = _cluster([300, 0], [0, 0])
    assert _score(GpuPacking(), PodRequest("c", cpu_milli=1000), cache) == [0.0, 0.0]


def test_gpu_fit_prefers_the_tightest_gap_and_exact_whole_fits() -> None:
    cache = _cluster([600, 0], [300, 0], [1000, 0, 0, 0])
    gaps = _score(GpuFit(), make_pod("s").share(400).build(), cache)
    assert gaps[0] > gaps[1] > gaps[2]  # 0 left on n0's GPU 0, 300 on n1's, 600 on a free GPU of n2
    whole = _score(GpuFit(), make_pod("w").gpus(1).build(), cache)
    assert whole[0] == whole[1] == 100.0 and whole[2] < 100.0  # n2 would keep 2 whole GPUs idle
    cpu_only = _score(GpuFit(), PodRequest("c", cpu_milli=1000), cache)
    assert cpu_only[0] > cpu_only[2]  # n0 has 1400 milli idle, n2 has 3000


def test_expected_waste_matches_the_recursion_by_hand() -> None:
    # One class only, shares of 500; stopping weight s: V(500) = 500 s / (s + 1), V(1000) = (1000 s + V(500)) / (s + 1).
    s = 0.25
    value = expected_waste([make_pod("p").share(500).build()], stop=s)
    assert value[0] == 0.0
    assert value[499] == pytest.approx(499.0)  # nothing fits: all of it is waste
    assert value[500] == pytest.approx(500 * s / (s + 1))
    assert value[1000] == pytest.approx((1000 * s + value[500]) / (s + 1))


def test_waste_gradient_completes_a_pair_rather_than_open_a_fresh_gpu() -> None:
    # Half the pods take a whole GPU, half a 500 share: V(500) = 50 / 0.6, V(1000) = (100 + V(500) / 2) / 1.1.
    # A share in the 500 gap changes the expectation by -V(500) = -83; on the free GPU by V(500) - V(1000) = -45.
    workload = [make_pod(f"p{i}").share(500).build() for i in range(2)]
    workload += [make_pod(f"w{i}").gpus(1).build() for i in range(2)]
    plugin = WasteGradient(expected_waste(workload, stop=0.1))
    cache = _cluster([0, 0], [500, 0])
    pod = make_pod("s").share(500).build()
    scores = _score(plugin, pod, cache)
    assert scores[1] > scores[0]
    picks = plugin.select_devices(CycleState(), pod, cache.snapshot(), 1)
    assert picks is not None and picks[0].device == 0  # the half-used GPU, not the fresh one


def test_new_scorers_are_registered() -> None:
    registry = default_registry()
    ctx = PluginContext(workload=(make_pod("p").share(500).build(),))
    for name in ("gpu-fit", "waste-gradient"):
        assert registry.create(name, {}, ctx).name == name
