"""Model pressure: unconstrained pods leave the GPU models that constrained pods need, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from motherboard.scheduler.cache import ClusterCache, PodRequest
from motherboard.scheduler.placement.framework import CycleState, PluginContext
from motherboard.scheduler.placement.placer import Placer
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.placement.plugins.modelpressure import ModelPressure
from motherboard.scheduler.placement.profile import Profile, ScoreEntry, shipped_profile
from tests.unit.scheduler.cache.builders import make_node, make_pod


def _cluster() -> ClusterCache:
    # n0: 2 T4 (capacity 2000 milli), n1: 4 G2 (4000 milli).
    return ClusterCache(
        [
            make_node("n0", cpu=64_000).gpus(2, model="T4").build(),
            make_node("n1", cpu=64_000).gpus(4, model="G2").build(),
        ]
    )


# Constrained demand: 1000 on T4 only; 1000 on T4 or G2 (spread by capacity: 1/3 T4, 2/3 G2).
WORKLOAD = (
    make_pod("t4").gpus(1, models=("T4",)).build(),
    make_pod("any-of").gpus(1, models=("T4", "G2")).build(),
    make_pod("free").gpus(1).build(),
)


def _scores(pod: PodRequest, cache: ClusterCache, plugin: ModelPressure) -> list[float]:
    snap = cache.snapshot()
    return [float(x) for x in plugin.score(CycleState(), pod, snap, np.arange(snap.size))]


def test_pressure_is_constrained_demand_over_the_models_capacity() -> None:
    plugin = ModelPressure(WORKLOAD)
    pressure = plugin.pressure(_cluster().snapshot())
    assert pressure.tolist() == pytest.approx([(1000 + 1000 / 3) / 2000, (2000 / 3) / 4000])


def test_an_unconstrained_pod_scores_its_demand_times_the_pressure() -> None:
    plugin = ModelPressure(WORKLOAD)
    share = make_pod("s").share(500).build()
    assert _scores(share, _cluster(), plugin) == pytest.approx([-500 * 2 / 3, -500 / 6])


def test_cpu_only_pods_and_unconstrained_workloads_score_zero() -> None:
    cache = _cluster()
    assert _scores(PodRequest("c", cpu_milli=4_000), cache, ModelPressure(WORKLOAD)) == [0.0, 0.0]
    no_constraints = ModelPressure((make_pod("free").gpus(1).build(),))
    assert _scores(make_pod("w").gpus(1).build(), cache, no_constraints) == [0.0, 0.0]


def test_the_unconstrained_pod_goes_to_the_model_nobody_needs() -> None:
    # Plain best fit would take the smaller T4 node; the pressure sends the pod to G2 and keeps the T4s
    # for the T4-only pod that comes next.
    profile = Profile("p", filter=("resources-fit", "device-fit"), score=(ScoreEntry("model-pressure"),))
    placer = Placer(profile, default_registry(), PluginContext(workload=WORKLOAD))
    cache = _cluster()
    for name in ("free-1", "free-2"):
        placed = placer.place(make_pod(name).gpus(1).build(), cache.snapshot()).placement
        assert placed is not None and placed.node_name == "n1"
        cache.assume(placed)


def test_the_default_profile_weighs_it_below_pairing_and_stranding() -> None:
    weights = {e.name: e.weight for e in shipped_profile("default").score}
    assert weights["model-pressure"] < weights["stranding"] < weights["share-pairing"]
    assert weights["node-size"] < weights["fgd"] < weights["model-pressure"]
