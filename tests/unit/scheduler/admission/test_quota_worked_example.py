"""The worked example of docs/quota.md, number for number: a three-level tree that borrows, lends, reclaims.

If a figure here changes, the document is wrong (or the model changed): change both together.
"""

from __future__ import annotations

from motherboard.scheduler.admission import Admit, Preempt, QuotaTree, decide
from motherboard.scheduler.admission.testing import make_queue, make_workload

GPU = "nvidia.com/gpu"


def company() -> QuotaTree:
    """company 32 ── research 16 (+8) ── vision 8 (lends 4), nlp 6; company ── prod 12 (lends 4)."""
    return QuotaTree(
        [
            make_queue("company").gpus(32).build(),
            make_queue("research").parent("company").gpus(16, borrowing=8).build(),
            make_queue("vision").parent("research").gpus(8, lending=4).build(),
            make_queue("nlp").parent("research").gpus(6).build(),
            make_queue("prod").parent("company").gpus(12, lending=4).build(),
        ]
    )


def gpus(tree: QuotaTree, queue: str, what: str) -> int:
    value = {"available": tree.available, "capacity": tree.capacity}[what](queue, GPU)
    assert value % 1000 == 0
    return value // 1000


def lent(tree: QuotaTree, queue: str) -> int:
    return tree.model.lent(queue, GPU) // 1000


def run(tree: QuotaTree, name: str, queue: str, count: int, at: float) -> None:
    workload = make_workload(name).queue(queue).gpus(count).created(at).build()
    assert isinstance(decide(tree, workload), Admit), name
    tree.assume(workload, now=at)


def test_step_1_an_idle_tree() -> None:
    tree = company()
    # vision: research's 16 + its borrowing limit 8. nlp: the same less vision's guaranteed 4.
    # prod: the company's 32 less vision's guaranteed 4 (research's own lends everything).
    assert {q: gpus(tree, q, "capacity") for q in ("vision", "nlp", "prod")} == {
        "vision": 24,
        "nlp": 20,
        "prod": 28,
    }


def test_step_2_nlp_borrows_inside_research() -> None:
    tree = company()
    run(tree, "nlp-a", "nlp", 6, 1)
    run(tree, "nlp-b", "nlp", 4, 2)  # 4 above its nominal: 2 of research's own 2, 2 lent by vision
    assert tree.usage("research").get_amount(GPU) == 10_000
    assert lent(tree, "vision") == 2
    assert gpus(tree, "vision", "available") == 14  # its guaranteed 4 + the 10 research may still add
    assert gpus(tree, "prod", "available") == 18  # 32 - research's 10 - vision's idle guaranteed 4


def test_step_3_research_borrows_from_the_company() -> None:
    tree = company()
    run(tree, "nlp-a", "nlp", 6, 1)
    run(tree, "nlp-b", "nlp", 4, 2)
    run(tree, "vision-a", "vision", 8, 3)
    run(tree, "vision-b", "vision", 4, 4)  # research now holds 22: 6 above its 16, within +8
    assert tree.usage("research").get_amount(GPU) == 22_000
    assert lent(tree, "prod") == 2  # company's own 4 cover 4 of the 6, prod lends the other 2
    assert gpus(tree, "vision", "available") == 2
    assert gpus(tree, "prod", "available") == 10  # its 12 less the 2 it lent


def test_step_4_prod_reclaims_its_nominal() -> None:
    tree = company()
    for name, queue, count, at in (
        ("nlp-a", "nlp", 6, 1),
        ("nlp-b", "nlp", 4, 2),
        ("vision-a", "vision", 8, 3),
        ("vision-b", "vision", 4, 4),
    ):
        run(tree, name, queue, count, at)
    claim = make_workload("serve").queue("prod").gpus(12).created(5).build()
    decision = decide(tree, claim)
    assert isinstance(decision, Preempt)
    # The newest borrower's work goes, and only as much as needed: vision-b (4 GPUs above vision's 8).
    assert [v.workload.key for v in decision.victims] == ["default/vision-b"]
    tree.forget("default/vision-b")
    assert isinstance(decide(tree, claim), Admit)
    tree.assume(claim)
    assert tree.usage("company").get_amount(GPU) == 30_000
    assert tree.usage("research").get_amount(GPU) == 18_000  # still borrows 2: the company's spare
    assert lent(tree, "prod") == 0
    assert gpus(tree, "prod", "available") == 2  # the company's last 2
