"""The queue tree: usage from bound pods' device assignments and requests, rolled up to parents; borrowing
above nominal and lending attributed to siblings with room; the Queue's status wins when present."""

from __future__ import annotations

from decimal import Decimal

from motherboard.quota.usage import QueueNode, ResourceLine, build_tree, format_amount, pod_usage
from tests.unit.quota.builders import pod, queue, quota


def line(nodes: list[QueueNode], queue_name: str, resource: str) -> ResourceLine:
    node = next(n for n in nodes if n.name == queue_name)
    return next(r for r in node.resources if r.resource == resource)


def test_device_usage_is_the_assignment_milli_under_its_quota_family() -> None:
    used = pod_usage(
        pod(
            "p",
            devices={"nvidia.com/mig-1g.10gb": [142, 142], "nvidia.com/gpu": [1000]},
            cpu="500m",
            memory="2Gi",
        )
    )
    assert used == {
        "nvidia.com/gpu": Decimal("1.284"),
        "cpu": Decimal("0.5"),
        "memory": Decimal(2 * 2**30),
    }


def test_pending_and_finished_pods_hold_nothing() -> None:
    assert pod_usage(pod("p", node=None, cpu="1")) == {}
    assert pod_usage(pod("p", devices={"nvidia.com/gpu": [1000]}, phase="Succeeded")) == {}


def test_parents_use_what_their_subtree_uses_and_siblings_lend_what_one_borrows() -> None:
    queues = {
        "org": queue("org", quota("nvidia.com/gpu", "8")),
        "a": queue(
            "a", quota("nvidia.com/gpu", "4", borrowingLimit="4"), parent="org", namespaces=["team-a"]
        ),
        "b": queue("b", quota("nvidia.com/gpu", "4", lendingLimit="2"), parent="org", namespaces=["team-b"]),
    }
    pods = [
        pod("a-0", "team-a", devices={"nvidia.com/gpu": [1000] * 5}),  # by namespace: one above nominal
        pod("b-0", "team-b", devices={"nvidia.com/gpu": [1000]}),
        pod("x-0", "elsewhere", devices={"nvidia.com/gpu": [1000] * 8}),  # no queue charges it
        pod("b-1", "elsewhere", queue="b", devices={"nvidia.com/gpu.shared": [250]}),  # by label
    ]
    nodes = build_tree(queues, pods)
    assert [(n.name, n.depth) for n in nodes] == [("org", 0), ("a", 1), ("b", 1)]
    assert line(nodes, "org", "nvidia.com/gpu").used == Decimal("6.25")
    a, b = line(nodes, "a", "nvidia.com/gpu"), line(nodes, "b", "nvidia.com/gpu")
    assert (a.used, a.borrowed, a.lent) == (Decimal(5), Decimal(1), Decimal(0))
    # b could lend 2.75 unused GPUs but its lendingLimit caps it at 2; a borrows 1 of them.
    assert (b.used, b.borrowed, b.lent) == (Decimal("1.25"), Decimal(0), Decimal(1))


def test_queue_status_is_used_when_the_operator_reports_it() -> None:
    reported = queue("a", quota("cpu", "10"))
    reported = reported.model_copy(
        update={
            "status": reported.model_validate(
                {"status": {"usage": [{"resource": "cpu", "used": "7", "lent": "2"}]}}
            ).status
        }
    )
    nodes = build_tree({"a": reported}, [pod("p", queue="a", cpu="1")])
    assert nodes[0].from_status
    assert (line(nodes, "a", "cpu").used, line(nodes, "a", "cpu").lent) == (Decimal(7), Decimal(2))


def test_a_parent_cycle_does_not_hang_the_tree() -> None:
    queues = {"x": queue("x", parent="y"), "y": queue("y", parent="x"), "r": queue("r")}
    assert [n.name for n in build_tree(queues, [])] == ["r"]


def test_amounts_print_as_people_read_them() -> None:
    assert format_amount("memory", Decimal(64 * 2**30)) == "64Gi"
    assert format_amount("nvidia.com/gpu", Decimal("1.2840")) == "1.284"
    assert format_amount("cpu", Decimal(8)) == "8"
    assert format_amount("cpu", None) == "-"


def test_lent_is_the_operators_arithmetic_one_loan_once() -> None:
    # The CLI and the operator's status agree (one model): a borrows 2, b and c lend 1 each (not 2 each).
    queues = {
        "org": queue("org", quota("nvidia.com/gpu", "12")),
        "a": queue("a", quota("nvidia.com/gpu", "4"), parent="org"),
        "b": queue("b", quota("nvidia.com/gpu", "4"), parent="org"),
        "c": queue("c", quota("nvidia.com/gpu", "4"), parent="org"),
    }
    nodes = build_tree(queues, [pod("big", queue="a", devices={"nvidia.com/gpu": [1000] * 6})])
    lent = {name: line(nodes, name, "nvidia.com/gpu").lent for name in ("a", "b", "c")}
    assert lent == {"a": Decimal(0), "b": Decimal(1), "c": Decimal(1)}
