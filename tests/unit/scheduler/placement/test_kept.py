"""The placer's kept per-class verdicts and totals, and FGD's exact scalar path, answer as a cold run does."""

from __future__ import annotations

import numpy as np
import pytest

from motherboard.scheduler.cache import ClusterCache, NodeSpec, PodRequest
from motherboard.scheduler.cache.state import Catalog
from motherboard.scheduler.placement.fragmentation import (
    ClassTable,
    StateFragmentation,
    Workload,
    node_fragmentation,
    weighted_fragmentation,
)
from motherboard.scheduler.placement.framework import PluginContext
from motherboard.scheduler.placement.placer import Placer
from motherboard.scheduler.placement.plugins import default_registry, fgd
from motherboard.scheduler.simulate.policies import policy_profile
from tests.unit.scheduler.cache.builders import make_node, make_pod


def _workload() -> list[PodRequest]:
    pods = [
        make_pod(f"s{i}").cpu(2000 + 1000 * (i % 3)).share(int(m)).build()
        for i, m in enumerate([250, 500, 810, 300] * 5)
    ]
    pods += [make_pod(f"w{i}").cpu(4000).gpus(1 + i % 3).build() for i in range(8)]
    pods += [make_pod(f"c{i}").cpu(8000).build() for i in range(4)]
    return pods


def _nodes() -> list[NodeSpec]:
    return [make_node(f"n{i}").gpus(2 + 2 * (i % 3)).build() for i in range(10)]


def _replay(
    policy: str, force_full: bool, scalar_rows: int | None = None
) -> list[tuple[int, tuple[int, ...], str]]:
    pods = _workload()
    cache = ClusterCache(_nodes(), tie_rank=np.random.default_rng(3).permutation(10).astype(np.int64))
    placer = Placer(policy_profile(policy), default_registry(), PluginContext(workload=tuple(pods)))
    if force_full:
        placer._keyed_filters = None  # every cycle through the full filters and scores
    arrivals = [pods[i] for i in np.random.default_rng(7).integers(0, len(pods), size=120)]
    out = []
    for n, pod in enumerate(arrivals):
        res = placer.place(
            PodRequest(f"{pod.name}-{n}", pod.cpu_milli, pod.memory_mib, pod.devices), cache.snapshot()
        )
        if res.placement is None:
            out.append((-1, (), res.status.message))
            continue
        cache.assume(res.placement)
        out.append((res.placement.node, tuple(p.device for p in res.placement.picks), ""))
    return out


@pytest.mark.parametrize("policy", ["fgd", "motherboard", "bestfit", "packing"])
def test_kept_totals_place_exactly_as_the_full_cycle(policy: str) -> None:
    kept = _replay(policy, force_full=False)
    assert any(node < 0 for node, _, _ in kept), "the replay should fill the cluster"
    assert kept == _replay(policy, force_full=True)  # same nodes, devices and (lazy) failure reasons


def test_fgd_scalar_path_matches_the_array_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fgd, "SCALAR_ROWS", 0)
    arrays = _replay("fgd", force_full=False)
    monkeypatch.setattr(fgd, "SCALAR_ROWS", 10**6)
    assert _replay("fgd", force_full=False) == arrays


def test_state_fragmentation_matches_the_vectorised_measure() -> None:
    pods = _workload()
    catalog = Catalog(models=["A100-80GB", "V100"])
    table = ClassTable.build(Workload.from_pods(pods, coverage=1.0), catalog)
    rng = np.random.default_rng(11)
    free = rng.choice([0, 190, 250, 500, 700, 1000], size=(300, 8)).astype(np.int64)
    cpu = rng.integers(-1000, 20_000, size=300).astype(np.int64)
    model = rng.integers(-1, 2, size=300).astype(np.int64)
    exact = weighted_fragmentation(free, cpu, model, table, np.zeros(300, dtype=np.int64))
    memo = StateFragmentation(table)
    scalar = [memo.value(int(m), int(c), 0, f.tolist()) for f, c, m in zip(free, cpu, model, strict=True)]
    assert scalar == exact.tolist()
    assert [
        memo.value(int(m), int(c), 0, f[::-1].tolist()) for f, c, m in zip(free, cpu, model, strict=True)
    ] == scalar
    total = int(table.weight.sum())
    assert np.allclose(exact / total, node_fragmentation(free, cpu, model, table))
