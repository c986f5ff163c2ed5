"""Device accounting: MIG layouts stay valid and fractional shares never exceed a device."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motherboard.scheduler.cache import AccountingError, ClusterCache, DeviceKind, device_assignment
from motherboard.scheduler.devicemodel import MigInstance, MigLayoutError, place, validate_layout
from tests.unit.scheduler.cache.builders import make_node, make_pod, placer_for

VALID_LAYOUTS = [
    ("A100-40GB", [("7g.40gb", 0)]),
    ("A100-40GB", [("4g.20gb", 0), ("3g.20gb", 4)]),
    ("A100-40GB", [("1g.5gb", s) for s in range(7)]),
    ("A100-80GB", [("3g.40gb", 0), ("2g.20gb", 4), ("1g.10gb", 6)]),
    ("H100-80GB", [("2g.20gb", 0), ("2g.20gb", 2), ("3g.40gb", 4)]),
]
INVALID_LAYOUTS = [
    ("A100-40GB", [("3g.20gb", 2)], "cannot start"),
    ("A100-40GB", [("4g.20gb", 0), ("4g.20gb", 0)], "overlaps"),
    ("A100-80GB", [("7g.80gb", 0), ("1g.10gb", 0)], "overlaps"),
    (
        "H100-80GB",
        [("1g.20gb", 0), ("1g.20gb", 2), ("1g.20gb", 4), ("1g.20gb", 6), ("4g.40gb", 0)],
        "overlaps",
    ),
    ("T4", [("1g.5gb", 0)], "does not support MIG"),
]


@pytest.mark.parametrize(("model", "layout"), VALID_LAYOUTS)
def test_documented_mig_layouts_are_accepted(model: str, layout: list[tuple[str, int]]) -> None:
    validate_layout(model, [MigInstance(p, s) for p, s in layout])


@pytest.mark.parametrize(("model", "layout", "error"), INVALID_LAYOUTS)
def test_impossible_mig_layouts_are_rejected(model: str, layout: list[tuple[str, int]], error: str) -> None:
    with pytest.raises(MigLayoutError, match=error):
        validate_layout(model, [MigInstance(p, s) for p, s in layout])


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(["A100-40GB", "A100-80GB", "H100-80GB"]),
    picks=st.lists(st.integers(0, 5), max_size=12),
)
def test_dynamic_mig_placement_always_yields_a_valid_layout(model: str, picks: list[int]) -> None:
    from motherboard.scheduler.devicemodel.mig import MIG_PROFILES, canonical_model

    profiles = [p for p in MIG_PROFILES[canonical_model(model)] if "+me" not in p]
    layout: list[MigInstance] = []
    occupied, compute = 0, 0
    for i in picks:
        profile = profiles[i % len(profiles)]
        start = place(model, occupied, compute, profile)
        if start is None:
            continue
        layout.append(MigInstance(profile, start))
        occupied = validate_layout(model, layout)
        compute = sum(int(inst.profile[0]) for inst in layout)
    validate_layout(model, layout)


def test_inventory_with_an_invalid_mig_layout_is_refused() -> None:
    with pytest.raises(MigLayoutError):
        ClusterCache([make_node("n0").mig_gpu("A100-40GB", [("4g.20gb", 0), ("3g.20gb", 2)]).build()])


def test_mig_pod_gets_a_partition_and_the_assignment_names_it() -> None:
    cache = ClusterCache([make_node("n0").mig_gpu("A100-80GB", [("3g.40gb", 0), ("1g.10gb", 4)]).build()])
    out = placer_for().place(make_pod("m").mig("1g.10gb").build(), cache.snapshot())
    assert out.placement is not None
    annotation = out.assignment(cache.snapshot())
    (container,) = annotation.containers
    assert container.resource == "nvidia.com/mig-1g.10gb"
    assert container.devices[0].id == "n0-mig0-1"
    assert container.devices[0].parent == "n0-gpu0"


@settings(max_examples=40, deadline=None)
@given(shares=st.lists(st.sampled_from([100, 250, 300, 460, 500, 700]), min_size=1, max_size=30))
def test_fractional_shares_never_exceed_a_device(shares: list[int]) -> None:
    cache = ClusterCache([make_node("n0").gpus(2).build()])
    placer = placer_for("bestfit")
    for i, milli in enumerate(shares):
        out = placer.place(make_pod(f"p{i}").cpu(10).share(milli, 4096).build(), cache.snapshot())
        if out.placement is not None:
            cache.assume(out.placement)
    state = cache.snapshot().state
    assert (state.dev_milli_free >= 0).all() and (state.dev_milli_free <= 1000).all()
    assert (state.dev_mem_free >= 0).all()
    used = {p.picks[0].device: 0 for p in cache.placements()}
    for p in cache.placements():
        used[p.picks[0].device] += p.picks[0].milli
    assert all(v <= 1000 for v in used.values())


def test_overcommitting_a_device_is_an_accounting_error() -> None:
    cache = ClusterCache([make_node("n0").gpus(1).build()])
    placer = placer_for()
    first = placer.place(make_pod("a").share(700).build(), cache.snapshot()).placement
    assert (
        first is not None and first.pod.devices is not None and first.pod.devices.kind is DeviceKind.FRACTION
    )
    cache.assume(first)
    with pytest.raises(AccountingError):
        cache.assume(type(first)(make_pod("b").share(700).build(), 0, "n0", first.picks))


def test_whole_gpu_assignment_lists_device_ids() -> None:
    cache = ClusterCache([make_node("n0").gpus(4).build()])
    out = placer_for().place(make_pod("p").gpus(2).build(), cache.snapshot())
    assert out.placement is not None
    annotation = device_assignment(cache.snapshot().state, out.placement)
    assert [d.id for d in annotation.containers[0].devices] == ["n0-gpu0", "n0-gpu1"]


def test_a_model_alias_places_on_the_full_model_and_an_unknown_one_nowhere() -> None:
    # The webhook accepts "H100" for "H100-80GB" (unambiguous); the scheduler must place it the same way.
    cache = ClusterCache([make_node("h").gpus(2, "H100-80GB").build(), make_node("a").gpus(2).build()])
    placed = placer_for().place(make_pod("p").gpus(2, models=("H100",)).build(), cache.snapshot()).placement
    assert placed is not None and placed.node_name == "h"
    assert (
        placer_for().place(make_pod("q").gpus(1, models=("H200",)).build(), cache.snapshot()).placement
        is None
    )
