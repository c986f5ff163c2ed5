"""The cluster-profile model: shipped profiles load, and impossible hardware is rejected with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from motherboard.api.mig import place_layout
from motherboard.devcluster.profile import MODELS, ClusterProfile, DeviceSpec, SiteKind

PROFILES = Path(__file__).resolve().parents[3] / "profiles"


def _profile(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": "ClusterProfile",
        "name": "t",
        "sites": [
            {
                "name": "central",
                "kind": "central",
                "region": "r",
                "nodeGroups": [{"name": "cpu", "count": 1, "cpu": 8, "memoryGiB": 32}],
            },
        ],
    }
    doc.update(overrides)
    return doc


def test_demo_profile_has_a_central_and_two_edge_sites_with_every_accelerator() -> None:
    prof = ClusterProfile.load(PROFILES / "demo.yaml")
    assert [s.kind for s in prof.sites] == [SiteKind.CENTRAL, SiteKind.EDGE, SiteKind.EDGE]
    models = {g.devices.model for s in prof.sites for g in s.node_groups if g.devices is not None}
    assert models == {
        "H100-80GB",
        "A100-80GB",
        "Ascend910B",
        "T4",
        "Ascend310P",
        "MI300X",
        "P800-OAM",
        "MXC500",
    }
    assert any(g.devices is not None and g.devices.mig_enabled for g in prof.sites[0].node_groups)
    assert any(g.devices is not None and g.devices.share_replicas for s in prof.sites for g in s.node_groups)
    assert 10 <= prof.node_count <= 30


@pytest.mark.parametrize(("name", "nodes"), [("bench-100", 100), ("bench-500", 500), ("bench-1000", 1000)])
def test_bench_profiles_have_the_node_count_they_are_named_for(name: str, nodes: int) -> None:
    assert ClusterProfile.load(PROFILES / f"{name}.yaml").node_count == nodes


def test_the_operator_bench_profile_holds_a_thousand_four_pod_jobs() -> None:
    prof = ClusterProfile.load(PROFILES / "bench-100.yaml")
    assert sum(g.count * g.pods for s in prof.sites for g in s.node_groups) >= 4000


@pytest.mark.parametrize(
    ("layout", "starts"),
    [
        (("7g.80gb",), [0]),
        (("3g.40gb", "3g.40gb"), [0, 4]),
        (("1g.10gb", "3g.40gb", "2g.20gb"), [0, 4, 6]),  # larger instances are placed first
        (("1g.10gb",) * 7, [0, 1, 2, 3, 4, 5, 6]),
        (("2g.20gb", "2g.20gb", "2g.20gb", "1g.10gb"), [0, 2, 4, 6]),
    ],
)
def test_valid_mig_layouts_are_placed_like_the_driver(layout: tuple[str, ...], starts: list[int]) -> None:
    assert MODELS["A100-80GB"].mig
    assert [p.start for p in place_layout(layout, "A100-80GB")] == starts


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        (
            ("3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"),
            "does not fit",
        ),  # 7 compute slices, but no 1g at slice 7
        (("4g.40gb", "4g.40gb"), "compute slices"),
        (("7g.80gb", "1g.10gb"), "compute slices"),
        (("1g.5gb",), "unknown MIG profile"),
    ],
)
def test_impossible_mig_layouts_are_rejected(layout: tuple[str, ...], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        place_layout(layout, "A100-80GB")


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"model": "T4", "count": 1, "migLayouts": [["1g.10gb"]]}, "does not support MIG"),
        ({"model": "Ascend910B", "count": 8, "shareReplicas": 2}, "NVIDIA"),
        ({"model": "A100-80GB", "count": 8, "migLayouts": [["7g.80gb"]], "shareReplicas": 2}, "not both"),
        ({"model": "B300", "count": 8}, "unknown accelerator model"),
        (
            {"model": "H100-80GB", "count": 8, "migLayouts": [["3g.40gb", "3g.40gb", "1g.10gb"]]},
            "does not fit",
        ),
        ({"model": "H100-80GB", "count": 8, "nvlink": True}, "Extra inputs"),
    ],
)
def test_impossible_devices_are_rejected(spec: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        DeviceSpec.model_validate(spec)


def test_mig_layouts_cycle_over_the_gpus_and_empty_means_whole() -> None:
    spec = DeviceSpec.model_validate({"model": "A100-80GB", "count": 4, "migLayouts": [["7g.80gb"], []]})
    assert [spec.layout_of(i) for i in range(4)] == [("7g.80gb",), (), ("7g.80gb",), ()]
    assert spec.mig_enabled


def test_profile_needs_exactly_one_central_site() -> None:
    doc = _profile()
    doc["sites"].append({**doc["sites"][0], "name": "other"})
    with pytest.raises(ValidationError, match="exactly one central site"):
        ClusterProfile.model_validate(doc)


def test_duplicate_sites_groups_and_unknown_zones_are_rejected() -> None:
    doc = _profile()
    doc["sites"].append({**doc["sites"][0], "kind": "edge"})
    with pytest.raises(ValidationError, match="duplicate site names"):
        ClusterProfile.model_validate(doc)
    site = _profile()["sites"][0]
    group = site["nodeGroups"][0]
    with pytest.raises(ValidationError, match="duplicate node group"):
        ClusterProfile.model_validate(_profile(sites=[{**site, "nodeGroups": [group, group]}]))
    with pytest.raises(ValidationError, match="not a site zone"):
        ClusterProfile.model_validate(_profile(sites=[{**site, "nodeGroups": [{**group, "zone": "mars"}]}]))


def test_wrong_kind_bad_names_and_typos_are_rejected() -> None:
    with pytest.raises(ValidationError, match="kind must be ClusterProfile"):
        ClusterProfile.model_validate(_profile(kind="Cluster"))
    with pytest.raises(ValidationError, match="should match pattern"):
        ClusterProfile.model_validate(_profile(name="Not_A_Label"))
    with pytest.raises(ValidationError, match="Extra inputs"):
        ClusterProfile.model_validate(_profile(nodegroups=[]))
