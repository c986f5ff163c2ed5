"""Partial admission of elastic gangs (issue 14): minAvailable below replicas starts with what fits and grows."""

from __future__ import annotations

from dataclasses import replace

from motherboard.scheduler.admission import Admit, QuotaTree, Wait, Workload, decide
from motherboard.scheduler.admission.testing import make_queue, make_workload
from motherboard.scheduler.cycle import Bind, Pending
from tests.unit.scheduler.service.test_tenancy import queue
from tests.unit.scheduler.service.test_world import pod, world


def elastic(pods: int, gpus: int, minimum: int) -> Workload:
    base = make_workload("ns/train@0").queue("team").gpus(pods * gpus).build()
    one = make_workload("x").gpus(gpus).build().request
    return replace(base, pods=pods, min_pods=minimum, pod_requests=(one,) * pods)


def test_admission_takes_as_many_pods_as_the_quota_allows_and_never_fewer_than_the_minimum() -> None:
    tree = QuotaTree([make_queue("team").gpus(31.25).build()])
    decision = decide(tree, elastic(8, 4, 1))
    assert isinstance(decision, Admit) and decision.workload.pods == 7
    assert decision.workload.request.get_amount("nvidia.com/gpu") == 28_000
    assert isinstance(decide(tree, elastic(8, 4, 8)), Wait), "a rigid gang stays all or nothing"
    waiting = decide(tree, elastic(8, 40, 1))
    assert isinstance(waiting, Wait) and "needs 40 GPUs" in waiting.message, "the minimum is what waits"


def test_an_elastic_gang_starts_with_the_pods_that_fit_and_grows_when_quota_frees() -> None:
    # Before: 8 pods x 4 GPUs with minAvailable 1 ran 0 pods ("needs 32000m, 31250m free").
    w = world("n0", "n1", "n2", "n3")
    w.on_queue(queue("team", gpus=28, namespaces=("ns",)))
    for i in range(8):
        w.on_pod(pod(f"m{i}", 4, size=1))
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind) and len(action.placements) == 7
    w.start_binding(action.workload, [p.pod.name for p in action.placements])
    assert w.cycle.tree.usage("team").get_amount("nvidia.com/gpu") == 28_000
    (waiting,) = w.cycle.run(now=1).actions
    assert isinstance(waiting, Pending) and "needs 4 GPUs" in waiting.message
    w.on_queue(queue("team", gpus=32, namespaces=("ns",)))  # quota frees (here: raised)
    (grown,) = w.cycle.run(now=2).actions
    assert isinstance(grown, Bind) and [p.pod.name for p in grown.placements] == ["ns/m7"]


def test_capacity_too_lets_an_elastic_gang_start_smaller() -> None:
    w = world("n0")  # 8 GPUs, no queue: only capacity limits it
    for i in range(3):
        w.on_pod(pod(f"m{i}", 4, size=1))
    (action,) = w.cycle.run(now=0).actions
    assert isinstance(action, Bind) and [p.pod.name for p in action.placements] == ["ns/m0", "ns/m1"]


def test_a_growth_that_does_not_place_goes_back_to_what_the_gang_held() -> None:
    tree = QuotaTree([make_queue("team").gpus(16).build()])
    tree.assume(make_workload("ns/g@0").queue("team").gpus(4).build())
    grown = tree.grow(make_workload("ns/g@0").queue("team").gpus(4).build())
    assert grown.request.get_amount("nvidia.com/gpu") == 8000 and grown.pods == 2
    tree.retract("ns/g@0")
    assert tree.usage("team").get_amount("nvidia.com/gpu") == 4000
