"""Property tests: quota invariants hold under random trees and random streams of workloads."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motherboard.scheduler.admission import (
    Admit,
    Preempt,
    QueueSpec,
    QuotaTree,
    ResourceQuota,
    Workload,
    decide,
)
from motherboard.scheduler.admission.testing import make_queue, make_workload

GPU = "nvidia.com/gpu"
CPU = "cpu"
RESOURCES = (GPU, CPU)


@st.composite
def quotas(draw: st.DrawFn, *, root: bool) -> dict[str, ResourceQuota]:
    out = {}
    for resource in RESOURCES:
        nominal = draw(st.integers(0, 8)) * 500
        borrowing = None if root else draw(st.one_of(st.none(), st.integers(0, 8).map(lambda x: x * 500)))
        lending = draw(st.one_of(st.none(), st.integers(0, 8).map(lambda x: x * 500)))
        out[resource] = ResourceQuota(nominal, borrowing, lending)
    return out


@st.composite
def trees(draw: st.DrawFn) -> list[QueueSpec]:
    """A root, optionally a middle level, and 2-5 leaves: two- and three-level hierarchies."""
    specs = [QueueSpec("root", quotas=draw(quotas(root=True)))]
    middles = ["root"] if draw(st.booleans()) else [f"mid{i}" for i in range(draw(st.integers(1, 2)))]
    for name in middles:
        if name != "root":
            specs.append(QueueSpec(name, parent="root", quotas=draw(quotas(root=False))))
    for i in range(draw(st.integers(2, 5))):
        parent = draw(st.sampled_from(middles))
        specs.append(QueueSpec(f"leaf{i}", parent=parent, quotas=draw(quotas(root=False))))
    return specs


@dataclass
class Event:
    arrive: bool
    queue_index: int
    gpus: int
    cpus: int
    priority: int
    preemptible: bool


events = st.lists(
    st.builds(
        Event,
        arrive=st.integers(0, 3).map(bool),  # three arrivals for each departure
        queue_index=st.integers(0, 4),
        gpus=st.integers(0, 12).map(lambda x: x * 250),
        cpus=st.integers(0, 8).map(lambda x: x * 500),
        priority=st.integers(0, 3),
        preemptible=st.integers(0, 4).map(bool),
    ),
    max_size=40,
)


def leaves(specs: list[QueueSpec]) -> list[QueueSpec]:
    parents = {s.parent for s in specs}
    return [s for s in specs if s.name not in parents]


def subtree_names(specs: list[QueueSpec], name: str) -> set[str]:
    names = {name}
    for spec in specs:
        if spec.parent == name:
            names |= subtree_names(specs, spec.name)
    return names


def check_usage_bookkeeping(specs: list[QueueSpec], tree: QuotaTree) -> None:
    # Incremental usage equals usage recomputed from scratch: admitted work for a leaf, and for a parent
    # what its children use beyond their guaranteed part. Drift here would silently leak quota.
    for spec in specs:
        children = [s.name for s in specs if s.parent == spec.name]
        for r in RESOURCES:
            if children:
                expected = sum(max(0, tree.usage(c).get_amount(r) - tree.guaranteed(c, r)) for c in children)
            else:
                expected = sum(a.workload.request.get_amount(r) for a in tree.admitted(spec.name))
            assert tree.usage(spec.name).get_amount(r) == expected, (spec.name, r)


def check_invariants(specs: list[QueueSpec], tree: QuotaTree) -> None:
    check_usage_bookkeeping(specs, tree)
    leaf_usage = {s.name: tree.usage(s.name) for s in leaves(specs)}
    for r in RESOURCES:
        total_nominal = sum(s.quota(r).nominal for s in specs)
        # Nothing is created: the tree never admits more than all quota together.
        assert sum(u.get_amount(r) for u in leaf_usage.values()) <= total_nominal
        for spec in specs:
            inside = subtree_names(specs, spec.name)
            used = sum(u.get_amount(r) for q, u in leaf_usage.items() if q in inside)
            own = sum(s.quota(r).nominal for s in specs if s.name in inside)
            borrowing = spec.quota(r).borrowing_limit
            # Usage never exceeds nominal + borrowing limit, for a team and for a whole department.
            if borrowing is not None:
                assert used <= own + borrowing, (spec.name, r)
            # A lending limit is respected: what the queue keeps back is never used by anyone else.
            lending = spec.quota(r).lending_limit
            if lending is not None and spec.name in leaf_usage:
                others = sum(u.get_amount(r) for q, u in leaf_usage.items() if q != spec.name)
                assert others <= total_nominal - max(0, spec.quota(r).nominal - lending), (spec.name, r)


def check_minimal(tree: QuotaTree, workload: Workload, decision: Preempt) -> None:
    evicted = [tree.forget(v.workload.key) for v in decision.victims]
    borrow = not tree.fits(workload.queue, workload.request, allow_borrowing=False)
    assert tree.fits(workload.queue, workload.request, allow_borrowing=borrow)
    for entry in evicted:  # each victim is needed: keeping any one of them, the workload no longer fits
        assert entry is not None
        tree.restore(entry)
        assert not tree.fits(workload.queue, workload.request, allow_borrowing=borrow), entry.workload.key
        tree.forget(entry.workload.key)
    for entry in evicted:
        assert entry is not None
        tree.restore(entry)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=trees(), stream=events)
def test_quota_invariants_hold_under_any_workload_stream(specs: list[QueueSpec], stream: list[Event]) -> None:
    tree = QuotaTree(specs)
    names = [s.name for s in leaves(specs)]
    for n, event in enumerate(stream):
        if not event.arrive:
            admitted = sorted(a.workload.key for a in tree.admitted())
            if admitted:
                tree.forget(admitted[event.queue_index % len(admitted)])
            continue
        builder = make_workload(f"w{n}").queue(names[event.queue_index % len(names)]).priority(event.priority)
        builder = builder.units(GPU, event.gpus).units(CPU, event.cpus).created(float(n))
        workload = (builder if event.preemptible else builder.non_preemptible()).build()
        decision = decide(tree, workload)
        if isinstance(decision, Preempt):
            assert all(v.workload.preemptible for v in decision.victims), "a protected workload was chosen"
            assert all(tree.is_admitted(v.workload.key) for v in decision.victims)
            check_minimal(tree, workload, decision)
            for victim in decision.victims:
                tree.forget(victim.workload.key)
            decision = decide(tree, workload)
            assert isinstance(decision, Admit), "the victims must make room"
        if isinstance(decision, Admit):
            tree.assume(workload, now=float(n))
        check_invariants(specs, tree)


def test_builders_make_the_specs_the_properties_use() -> None:
    # Guard: the property tests build QueueSpec directly; the builder must produce the same thing.
    built = make_queue("leaf").parent("root").quota(GPU, 500, borrowing=0).build()
    assert built == QueueSpec("leaf", parent="root", quotas={GPU: ResourceQuota(500, 0, None)})
