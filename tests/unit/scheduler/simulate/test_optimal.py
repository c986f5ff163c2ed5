"""The offline optimum used for the optimality gap: a brute force on tiny instances, CP-SAT when present."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pytest

from motherboard.scheduler.cache.types import NodeSpec, PodRequest
from motherboard.scheduler.simulate.convert import node_spec, pod_request
from motherboard.scheduler.simulate.optimal import SolverMissingError, brute_force, solve
from motherboard.scheduler.simulate.packing import run_packing
from motherboard.scheduler.simulate.trace import TraceNode, TracePod


def _node(name: str, gpus: int, cpu: int = 64_000) -> NodeSpec:
    return node_spec(TraceNode(name, cpu, 256_000, gpus, "T4"))


def _pod(name: str, gpus: int, milli: int, cpu: int = 1000) -> PodRequest:
    return pod_request(TracePod(name, cpu, 1024, gpus, milli))


def test_brute_force_pairs_shares_and_keeps_a_gpu_whole() -> None:
    nodes = [_node("n", 2)]
    pods = [_pod("a", 1, 600), _pod("b", 1, 600), _pod("c", 1, 500), _pod("w", 1, 1000)]
    # Best: the whole-GPU pod on one GPU, a 600 share on the other (1600); two 600s would give 1200.
    assert brute_force(nodes, pods) == 1600


def test_brute_force_respects_cpu() -> None:
    nodes = [_node("n", 2, cpu=3000)]
    pods = [_pod("w1", 1, 1000, cpu=2000), _pod("w2", 1, 1000, cpu=2000), _pod("s", 1, 300, cpu=1000)]
    assert brute_force(nodes, pods) == 1300


def test_online_policies_never_beat_the_offline_optimum() -> None:
    rng = np.random.default_rng(3)
    nodes = [_node("a", 2), _node("b", 1)]
    sizes = [1000, 810, 470, 320, 650, 230]
    pods = [_pod(f"p{i}", 1, int(rng.choice(sizes))) for i in range(6)]
    best = brute_force(nodes, pods)
    for policy in ("fgd", "bestfit", "motherboard"):
        r = run_packing(nodes, pods, policy, 0, arrivals=pods)
        assert r.allocation_ratio * 3000 / 100 <= best + 1e-6


def test_missing_solver_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("ortools"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(SolverMissingError, match=r"motherboard\[solver\]"):
        solve([_node("n", 1)], [_pod("p", 1, 500)])
