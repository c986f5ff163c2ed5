"""Property tests: quota invariants hold under random trees and random streams of workloads."""

from __future__ import annotations

from dataclasses import dataclass, replace
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motherboard.api.quota import QueueQuota, overcommitted
from motherboard.scheduler.admission import (
    Admit,
    Preempt,
    QueueSpec,
    QuotaTree,
    ResourceQuota,
    Resources,
    Workload,
    decide,
    preemption,
)
from motherboard.scheduler.admission.preemption import plan_preemption
from motherboard.scheduler.admission.testing import make_queue, make_workload

GPU = "nvidia.com/gpu"
CPU = "cpu"
RESOURCES = (GPU, CPU)


@st.composite
def limits(draw: st.DrawFn, *, root: bool, floor: int) -> ResourceQuota:
    # floor: what the children are promised; the webhook refuses a parent's nominal below it.
    nominal = floor + draw(st.integers(0, 8)) * 500
    borrowing = None if root else draw(st.one_of(st.none(), st.integers(0, 8).map(lambda x: x * 500)))
    lending = draw(st.one_of(st.none(), st.integers(0, nominal // 500).map(lambda x: x * 500)))
    return ResourceQuota(nominal, borrowing, lending)


@st.composite
def quotas(
    draw: st.DrawFn, *, root: bool, children: tuple[QueueSpec, ...] = (), below: tuple[QueueSpec, ...] = ()
) -> dict[str, ResourceQuota]:
    # below: every queue under this one (a child without a quota of a resource passes on its children's).
    out = {}
    for resource in RESOURCES:
        if children and draw(st.integers(0, 3)) == 0:
            continue  # a parent without a quota of the resource: a plain pool of its children's
        promised = sum(nominal(list(below), c.name, resource) for c in children)
        out[resource] = draw(limits(root=root, floor=promised))
    return out


def nominal(specs: list[QueueSpec], name: str, resource: str) -> int:
    """The model's nominal, recomputed from the specs (a parent without a quota: its children's sum)."""
    spec = next(s for s in specs if s.name == name)
    if resource in spec.quotas:
        return spec.quotas[resource].nominal
    return sum(nominal(specs, s.name, resource) for s in specs if s.parent == name)


@st.composite
def trees(draw: st.DrawFn) -> list[QueueSpec]:
    """A root, optionally a middle level, and 2-5 leaves, built bottom-up so that every parent's nominal
    covers its children's (the webhook's rule): two- and three-level hierarchies."""
    middles = ["root"] if draw(st.booleans()) else [f"mid{i}" for i in range(draw(st.integers(1, 2)))]
    leaves_ = [
        QueueSpec(f"leaf{i}", parent=draw(st.sampled_from(middles)), quotas=draw(quotas(root=False)))
        for i in range(draw(st.integers(2, 5)))
    ]
    specs: list[QueueSpec] = list(leaves_)
    for name in middles:
        if name != "root":
            mine = tuple(s for s in specs if s.parent == name)
            specs.append(
                QueueSpec(name, parent="root", quotas=draw(quotas(root=False, children=mine, below=mine)))
            )
    top = tuple(s for s in specs if s.parent == "root")
    return [QueueSpec("root", quotas=draw(quotas(root=True, children=top, below=tuple(specs)))), *specs]


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
    # Incremental usage equals usage recomputed from scratch: a queue uses what its subtree's admitted
    # workloads hold. Drift here would silently leak quota.
    for spec in specs:
        inside = subtree_names(specs, spec.name)
        for r in RESOURCES:
            expected = sum(
                a.workload.request.get_amount(r) for a in tree.admitted() if a.workload.queue in inside
            )
            assert tree.usage(spec.name).get_amount(r) == expected, (spec.name, r)


def committed(specs: list[QueueSpec], tree: QuotaTree, name: str, r: str) -> int:
    """Usage with every unused guarantee held back, recomputed from scratch (docs/quota.md)."""
    children = [s for s in specs if s.parent == name]
    if not children:
        return tree.usage(name).get_amount(r)
    return sum(max(committed(specs, tree, c.name, r), c.quota(r).guaranteed) for c in children)


def check_invariants(specs: list[QueueSpec], tree: QuotaTree) -> None:
    check_usage_bookkeeping(specs, tree)
    for r in RESOURCES:
        for spec in specs:
            used = tree.usage(spec.name).get_amount(r)
            own = nominal(specs, spec.name, r)
            borrowing = (
                0 if spec.parent is None else spec.quota(r).borrowing_limit if r in spec.quotas else None
            )
            # No queue ever exceeds nominal + borrowing limit, a team or a whole department, and a root
            # (nobody to borrow from) never exceeds its own nominal: a parent's nominal is counted once.
            if borrowing is not None:
                assert used <= own + borrowing, (spec.name, r, used, own, borrowing)
                # Guarantees held back count too: nobody else ever uses a lender's guaranteed part.
                assert committed(specs, tree, spec.name, r) <= own + borrowing, (spec.name, r)


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
    # The generated trees are exactly those the webhook accepts (the rule is the model's own function).
    assert not overcommitted(QueueQuota(s.name, s.parent, s.quotas) for s in specs)
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
        if event.priority % 2:  # every other one an elastic gang of 3 pods that may start with 1
            pod = Resources({GPU: event.gpus // 3, CPU: event.cpus // 3})
            workload = replace(workload, request=pod.scaled(3), pods=3, min_pods=1, pod_requests=(pod,) * 3)
        decision = decide(tree, workload)
        if isinstance(decision, Preempt):
            assert all(v.workload.preemptible for v in decision.victims), "a protected workload was chosen"
            assert all(tree.is_admitted(v.workload.key) for v in decision.victims)
            check_minimal(tree, decision.workload, decision)
            for victim in decision.victims:
                tree.forget(victim.workload.key)
            decision = decide(tree, decision.workload)
            assert isinstance(decision, Admit), "the victims must make room"
        if isinstance(decision, Admit):
            # Partial admission admits a prefix of an elastic gang, never fewer pods than its minimum.
            assert decision.workload.pods >= max(1, workload.min_pods)
            tree.assume(decision.workload, now=float(n))
        check_invariants(specs, tree)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=trees(), stream=events, pick=st.integers(0, 4))
def test_reclaim_restores_a_lenders_guarantee(specs: list[QueueSpec], stream: list[Event], pick: int) -> None:
    """Whatever others borrowed, a queue below its nominal gets up to its nominal back: the request is
    admitted at once or after evicting borrowers' work (every workload preemptible)."""
    tree = QuotaTree(specs)
    names = [s.name for s in leaves(specs)]
    for n, event in enumerate(stream):
        if event.arrive:
            queue = names[event.queue_index % len(names)]
            workload = make_workload(f"w{n}").queue(queue).units(GPU, event.gpus).created(float(n)).build()
            if isinstance(decide(tree, workload), Admit):
                tree.assume(workload, now=float(n))
    lender = names[pick % len(names)]
    owed = nominal(specs, lender, GPU) - tree.usage(lender).get_amount(GPU)
    if owed <= 0:
        return
    claim = make_workload("claim").queue(lender).units(GPU, owed).created(1e9).build()
    decision = decide(tree, claim)
    assert isinstance(decision, Admit | Preempt), decision
    if isinstance(decision, Preempt):
        assert all(v.workload.queue != lender for v in decision.victims), (
            "equal priority: only borrowers lose"
        )
        for victim in decision.victims:
            tree.forget(victim.workload.key)
        assert isinstance(decide(tree, claim), Admit)
    tree.assume(claim)
    check_invariants(specs, tree)


def test_builders_make_the_specs_the_properties_use() -> None:
    # Guard: the property tests build QueueSpec directly; the builder must produce the same thing.
    built = make_queue("leaf").parent("root").quota(GPU, 500, borrowing=0).build()
    assert built == QueueSpec("leaf", parent="root", quotas={GPU: ResourceQuota(500, 0, None)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=trees(), stream=events)
def test_the_bound_before_trying_evictions_never_changes_a_plan(
    specs: list[QueueSpec], stream: list[Event]
) -> None:
    """``plan_preemption`` gives up early when the candidates together could not free enough (a bound on
    how far releasing usage raises availability): with the bound and without it, every plan is the same."""
    tree = QuotaTree(specs)
    names = [s.name for s in leaves(specs)]
    for n, event in enumerate(stream):
        queue = names[event.queue_index % len(names)]
        builder = make_workload(f"w{n}").queue(queue).priority(event.priority).created(float(n))
        workload = builder.units(GPU, event.gpus).units(CPU, event.cpus).build()
        with_bound = plan_preemption(tree, workload)
        with patch.object(preemption, "_could_fit", lambda *_, **__: True):
            without = plan_preemption(tree, workload)
        assert with_bound == without, (with_bound, without)
        if event.arrive and isinstance(decide(tree, workload), Admit):
            tree.assume(workload, now=float(n))
        elif not event.arrive:
            admitted = sorted(a.workload.key for a in tree.admitted())
            if admitted:
                tree.forget(admitted[event.queue_index % len(admitted)])
