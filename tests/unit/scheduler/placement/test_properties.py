"""Invariants under random workloads (hypothesis): capacity is never exceeded, gangs are never partial."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from motherboard.scheduler.cache import ClusterCache, PodRequest
from motherboard.scheduler.placement import Placer, PluginContext, shipped_profile
from motherboard.scheduler.placement.plugins import default_registry
from tests.unit.scheduler.cache.builders import make_node, make_pod, placer_for

pod_shapes = st.one_of(
    st.tuples(st.just("whole"), st.integers(1, 4)),
    st.tuples(st.just("share"), st.sampled_from([100, 250, 500, 750])),
    st.tuples(st.just("cpu"), st.integers(1, 8)),
)


def _pod(name: str, shape: tuple[str, int]) -> PodRequest:
    kind, n = shape
    builder = make_pod(name).cpu(4000)
    if kind == "whole":
        builder = builder.gpus(n)
    elif kind == "share":
        builder = builder.share(n)
    else:
        builder = builder.cpu(n * 1000)
    return builder.build()


@settings(max_examples=25, deadline=None)
@given(
    shapes=st.lists(pod_shapes, min_size=1, max_size=25),
    policy=st.sampled_from(["bestfit", "fgd", "spread", "default"]),
)
def test_random_workloads_never_exceed_capacity(shapes: list[tuple[str, int]], policy: str) -> None:
    cache = ClusterCache([make_node(f"n{i}", cpu=32_000).gpus(4).build() for i in range(3)])
    pods = [_pod(f"p{i}", shape) for i, shape in enumerate(shapes)]
    if policy == "default":  # the shipped profile, weighing this very workload (LP prices, CPU ratios)
        placer = Placer(shipped_profile("default"), default_registry(), PluginContext(workload=tuple(pods)))
    else:
        placer = placer_for(policy)
    for pod in pods:
        out = placer.place(pod, cache.snapshot())
        if out.placement is not None:
            cache.assume(out.placement)
    s = cache.snapshot().state
    assert (s.cpu_free >= 0).all() and (s.mem_free >= 0).all()
    assert ((s.dev_milli_free >= 0) & (s.dev_milli_free <= 1000)).all()
    for p in cache.placements():
        assert p.pod.devices is None or sum(k.milli for k in p.picks) == p.pod.gpu_milli


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=6), members=st.integers(1, 5))
def test_gangs_are_never_partially_placed(sizes: list[int], members: int) -> None:
    cache = ClusterCache([make_node(f"n{i}").gpus(s).build() for i, s in enumerate(sizes)])
    gang = [make_pod(f"g{i}").gpus(2).build() for i in range(members)]
    outcome = placer_for().schedule_gang(gang, cache)
    placed = {p.pod.name for p in cache.placements()}
    assert placed == ({p.name for p in gang} if outcome.ok else set())
