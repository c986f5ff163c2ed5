"""Share pairing: cutting-stock prices (checked against the LP over every pattern) and the scorer's choices."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from motherboard.scheduler.cache import ClusterCache, DevicePick, Placement, PodRequest
from motherboard.scheduler.cache.types import WHOLE_MILLI
from motherboard.scheduler.placement.framework import CycleState, PluginContext
from motherboard.scheduler.placement.pairing import SharePrices
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.placement.plugins.sharepairing import SharePairing, share_counts
from tests.unit.scheduler.cache.builders import make_node, make_pod


def _all_patterns(sizes: list[int]) -> list[tuple[int, ...]]:
    ranges = [range(WHOLE_MILLI // s + 1) for s in sizes]
    return [
        p
        for p in itertools.product(*ranges)
        if any(p) and sum(k * s for k, s in zip(p, sizes, strict=True)) <= 1000
    ]


def _lp_bins(counts: dict[int, int]) -> float:
    """The cutting-stock LP's optimum over every pattern, enumerated: the reference for column generation."""
    sizes = sorted(counts)
    matrix = np.array(_all_patterns(sizes), dtype=np.float64).T
    res = linprog(np.ones(matrix.shape[1]), A_ub=-matrix, b_ub=-np.array([counts[s] for s in sizes], float))
    return float(res.fun)


def _cluster(*loads: list[int]) -> ClusterCache:
    """One node per entry; each GPU's list value is the share already on it (0: free)."""
    cache = ClusterCache([make_node(f"n{i}").gpus(len(load)).build() for i, load in enumerate(loads)])
    for i, load in enumerate(loads):
        for g, used in enumerate(load):
            if used:
                pod = make_pod(f"u{i}-{g}").cpu(0).share(used).build()
                cache.assume(Placement(pod, i, f"n{i}", (DevicePick(g, used, 0),)))
    return cache


def _scores(plugin: SharePairing, pod: PodRequest, cache: ClusterCache) -> list[float]:
    snap = cache.snapshot()
    return [float(x) for x in plugin.score(CycleState(), pod, snap, np.arange(snap.size))]


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.integers(min_value=1, max_value=19).map(lambda k: 50 * k),
        st.integers(min_value=1, max_value=40),
        min_size=1,
        max_size=4,
    )
)
def test_prices_are_lp_optimal_and_feasible(counts: dict[int, int]) -> None:
    prices = SharePrices.from_counts(counts)
    # Feasible: no pattern is worth more than a GPU (the knapsack over the whole GPU is at most 1).
    assert prices.value[WHOLE_MILLI] <= 1.0 + 1e-6
    # Optimal: strong duality, the priced demand equals the fewest GPUs of the LP over every pattern.
    assert sum(prices.price[s] * n for s, n in counts.items()) == pytest.approx(_lp_bins(counts), abs=1e-6)
    # No placement gains against the best packing: every loss is >= 0.
    for milli in counts:
        free = np.arange(milli, WHOLE_MILLI + 1)
        assert (prices.loss(free, milli) >= -1e-9).all()


def test_prices_of_the_trace_shapes_by_hand() -> None:
    # 0.47 shares pair with each other; 0.65 with 0.32. Both pairs are worth exactly one GPU.
    prices = SharePrices.from_counts({470: 10, 650: 10, 320: 10})
    assert prices.price[470] == pytest.approx(0.5)
    assert prices.price[650] + prices.price[320] == pytest.approx(1.0)
    assert prices.value[WHOLE_MILLI] == pytest.approx(1.0)
    assert prices.loss_one(1000, 470) == 0.0  # a fresh GPU for a 0.47: the second 0.47 completes it
    assert prices.loss_one(350, 320) == 0.0  # a 0.32 beside a 0.65: the pattern the optimum uses
    assert prices.loss_one(530, 320) > 0.0  # a 0.32 beside a 0.47 leaves 210 milli nothing fits


def test_a_share_takes_the_gap_its_partner_left() -> None:
    workload = [make_pod(f"p{s}-{i}").share(s).build() for s in (470, 650, 320) for i in range(10)]
    plugin = SharePairing(SharePrices.from_counts(share_counts(workload)))
    # n0's GPU holds a 0.47 (530 free), n1's a 0.65 (350 free): the 0.32 goes beside the 0.65.
    cache = _cluster([470], [650])
    pod = make_pod("s").share(320).build()
    scores = _scores(plugin, pod, cache)
    assert scores[1] == 0.0 and scores[0] < 0.0
    # A 0.47 does not spoil the gap a 0.32 left for a 0.65 (best fit would take it): a fresh GPU loses nothing.
    cache = _cluster([320], [0])
    scores = _scores(plugin, make_pod("t").share(470).build(), cache)
    assert scores[1] == 0.0 and scores[0] < 0.0


def test_device_select_takes_the_least_loss_then_the_fullest_gpu() -> None:
    workload = [make_pod(f"p{s}-{i}").share(s).build() for s in (470, 650, 320) for i in range(10)]
    plugin = SharePairing(SharePrices.from_counts(share_counts(workload)))
    cache = _cluster([470, 0, 650, 650])  # GPU 2 and 3 both take a 0.32 at no loss: the lower index wins
    picks = plugin.select_devices(CycleState(), make_pod("s").share(320).build(), cache.snapshot(), 0)
    assert picks is not None and picks[0].device == 2


def test_no_shares_in_the_workload_means_no_opinion() -> None:
    plugin = default_registry().create(
        "share-pairing", {}, PluginContext(workload=(make_pod("w").gpus(1).build(),))
    )
    assert isinstance(plugin, SharePairing)
    cache = _cluster([470], [0])
    assert _scores(plugin, make_pod("s").share(320).build(), cache) == [0.0, 0.0]


def test_share_counts_keeps_the_most_common_sizes() -> None:
    workload = [make_pod(f"a{i}").share(500).build() for i in range(8)]
    workload += [make_pod(f"b{i}").share(250).build() for i in range(2)]
    workload.append(make_pod("w").gpus(2).build())
    assert share_counts(workload) == Counter({500: 8, 250: 2})
    assert share_counts(workload, coverage=0.8) == Counter({500: 8})
    assert share_counts(workload, max_sizes=1) == Counter({500: 8})


def test_a_size_left_out_of_the_lp_is_worth_what_fits_in_it() -> None:
    prices = SharePrices.from_counts({470: 10, 320: 10, 650: 10})
    assert 480 not in prices.price
    assert prices.price_of(480) == pytest.approx(prices.value[480]) == pytest.approx(0.5)  # a 0.47 fits in it
    assert prices.loss_one(1000, 480) == pytest.approx(
        0.0
    )  # like a 0.47: fresh GPU, a second one completes it
