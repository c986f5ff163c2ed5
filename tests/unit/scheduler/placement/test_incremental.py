"""Per-class caches (device fit, waste gradient) must answer exactly as a cold computation after any change."""

from __future__ import annotations

import numpy as np

from motherboard.scheduler.cache import ClusterCache
from motherboard.scheduler.placement.framework import KEY_USABLE_DEVICES, CycleState, PluginContext
from motherboard.scheduler.placement.placer import Placer
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.placement.plugins.devicefit import DeviceFit
from motherboard.scheduler.placement.plugins.fgd import _unique_rows
from motherboard.scheduler.placement.plugins.wastegradient import WasteGradient, expected_waste
from motherboard.scheduler.simulate.policies import policy_profile
from tests.unit.scheduler.cache.builders import make_node, make_pod


def test_device_fit_cache_matches_a_cold_filter_after_placements() -> None:
    cache = ClusterCache([make_node(f"n{i}").gpus(1 + i % 4).build() for i in range(12)])
    pods = [make_pod(f"p{i}").share(int(m)).build() for i, m in enumerate([300, 700, 450, 900, 250] * 6)]
    pods += [make_pod(f"w{i}").gpus(1 + i % 2).build() for i in range(6)]
    placer = Placer(policy_profile("fgd"), default_registry(), PluginContext(workload=tuple(pods)))
    warm = DeviceFit()
    value = expected_waste(pods, stop=0.05)
    warm_waste = WasteGradient(value)
    probes = [make_pod("q").share(500).build(), make_pod("r").gpus(2).build()]
    for pod in pods:
        out = placer.place(pod, cache.snapshot())
        if out.placement is not None:
            cache.assume(out.placement)
        snap = cache.snapshot()
        for probe in probes:
            hot_state, cold_state = CycleState(), CycleState()
            hot = warm.filter(hot_state, probe, snap)
            cold = DeviceFit().filter(cold_state, probe, snap)
            assert [r.reason for r in hot] == [r.reason for r in cold]
            for a, b in zip(hot, cold, strict=True):
                assert np.array_equal(a.nodes, b.nodes)
            assert np.array_equal(hot_state.read(KEY_USABLE_DEVICES), cold_state.read(KEY_USABLE_DEVICES))
            every = np.arange(snap.size)
            hot_w = warm_waste.score(hot_state, probe, snap, every)
            assert np.array_equal(hot_w, WasteGradient(value).score(cold_state, probe, snap, every))


def test_unique_rows_matches_numpy() -> None:
    rows = np.random.default_rng(5).integers(0, 3, size=(500, 10)).astype(np.int64)
    uniq, inverse = _unique_rows(rows)
    assert np.array_equal(uniq[inverse], rows)
    assert len(uniq) == len(np.unique(rows, axis=0))
