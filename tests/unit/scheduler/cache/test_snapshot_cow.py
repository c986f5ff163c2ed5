"""Snapshots are copy-on-write views: a held snapshot never changes, a dropped one costs no copy."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from motherboard.scheduler.cache import ClusterCache, Placement
from tests.unit.scheduler.cache.builders import make_node, make_pod


def _cache() -> ClusterCache:
    return ClusterCache([make_node(f"n{i}").gpus(2).build() for i in range(3)])


def _cpu_pod(name: str, node: int) -> Placement:
    return Placement(make_pod(name).cpu(1000).build(), node, f"n{node}")


def test_a_held_snapshot_keeps_its_values_after_assume_and_forget() -> None:
    cache = _cache()
    snap = cache.snapshot()
    before = snap.state.cpu_free.copy()
    cache.assume(_cpu_pod("a", 0))
    assert np.array_equal(snap.state.cpu_free, before)
    held = cache.snapshot()
    cache.forget("a")
    assert held.state.cpu_free[0] == before[0] - 1000
    assert cache.snapshot().state.cpu_free[0] == before[0]


def test_a_slice_of_a_dropped_snapshot_keeps_its_values() -> None:
    cache = _cache()
    row = cache.snapshot().state.cpu_free[0:2]  # the snapshot itself is gone, a view of its array is not
    gc.collect()
    kept = row.copy()
    cache.assume(_cpu_pod("a", 0))
    assert np.array_equal(row, kept)


def test_a_dropped_snapshot_costs_no_copy() -> None:
    cache = _cache()
    live = cache.live_state
    cache.snapshot()
    gc.collect()
    address = id(live.cpu_free)  # an id, not a reference: holding the array would itself force a copy
    cache.assume(_cpu_pod("a", 0))
    cache.snapshot()
    cache.assume(_cpu_pod("b", 1))
    assert id(live.cpu_free) == address  # written in place: nobody could see the write
    assert cache.snapshot().state.cpu_free[1] == live.cpu_free[1]


def test_snapshot_arrays_are_read_only() -> None:
    snap = _cache().snapshot()
    with pytest.raises(ValueError):
        snap.state.dev_milli_free[0, 0] = 0
    with pytest.raises(ValueError):
        snap.state.partitions.free[:] = False
