"""The placement framework: reasons summarised like kube-scheduler, profiles, site and topology rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from motherboard.scheduler.cache import ClusterCache
from motherboard.scheduler.placement import Code, Placer, ProfileError, load_profile, shipped_profile
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.placement.registry import UnknownPluginError
from tests.unit.scheduler.cache.builders import make_node, make_pod, placer_for


def _cluster() -> ClusterCache:
    central = [make_node(f"c{i}").gpus(1).site("dc1", "central").build() for i in range(3)]
    edge = [make_node(f"e{i}", cpu=4000).site("edge1", "edge").build() for i in range(2)]
    return ClusterCache(central + edge)


def test_unschedulable_pod_gets_a_summary_with_counts_per_reason() -> None:
    out = placer_for().place(make_pod("big").gpus(2).build(), _cluster().snapshot())
    assert out.status.code is Code.UNSCHEDULABLE
    assert out.status.message == (
        "0/5 nodes are available: 3 Insufficient nvidia.com/gpu, 2 node(s) didn't match accelerator model."
    )


def test_a_node_takes_no_more_pods_than_its_allocatable_pods() -> None:
    full, roomy = make_node("full").build(), make_node("roomy").build()
    cache = ClusterCache([replace(full, max_pods=2), replace(roomy, max_pods=3)])
    placer = placer_for("bestfit")
    nodes = []
    for i in range(5):
        out = placer.place(make_pod(f"p{i}").build(), cache.snapshot())
        assert out.placement is not None
        cache.assume(out.placement)
        nodes.append(cache.snapshot().state.names[out.placement.node])
    assert sorted(nodes) == ["full", "full", "roomy", "roomy", "roomy"]
    out = placer.place(make_pod("p5").build(), cache.snapshot())
    assert out.placement is None
    assert out.status.message == "0/2 nodes are available: 2 Too many pods."


def test_site_kind_mismatch_is_counted_and_unresolvable() -> None:
    out = placer_for().place(make_pod("edge-job").site(kind="edge").gpus(1).build(), _cluster().snapshot())
    assert out.status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert "3 site kind mismatch" in out.status.message
    assert "2 node(s) didn't match accelerator model" in out.status.message


def test_site_affinity_keeps_pod_on_its_site() -> None:
    out = placer_for().place(make_pod("e").site(kind="edge").build(), _cluster().snapshot())
    assert out.placement is not None and out.placement.node_name.startswith("e")


def test_bestfit_packs_and_spread_spreads() -> None:
    cache = ClusterCache([make_node("a").gpus(4).build(), make_node("b").gpus(4).build()])
    first = placer_for("bestfit").place(make_pod("p0").gpus(1).build(), cache.snapshot()).placement
    assert first is not None
    cache.assume(first)
    packed = placer_for("bestfit").place(make_pod("p1").gpus(1).build(), cache.snapshot()).placement
    spread = placer_for("spread").place(make_pod("p1").gpus(1).build(), cache.snapshot()).placement
    assert packed is not None and spread is not None
    assert packed.node_name == first.node_name
    assert spread.node_name != first.node_name


def test_shipped_default_profile_loads_and_builds() -> None:
    profile = shipped_profile("default")
    assert profile.device_select == "share-pairing"
    Placer(profile, default_registry())


def test_profile_naming_an_unknown_plugin_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nplugins:\n  score: [no-such-plugin]\n")
    with pytest.raises(UnknownPluginError, match="no-such-plugin"):
        Placer(load_profile(path), default_registry())


def test_malformed_profile_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nplugins:\n  sideways: [fgd]\n")
    with pytest.raises(ProfileError, match="sideways"):
        load_profile(path)
