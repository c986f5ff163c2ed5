"""`queue set` validates an edit as the admission webhook does: the model's rules, then the hierarchy's."""

from __future__ import annotations

from typing import Any

import pytest

from motherboard.quota.edit import QuotaEdit, validate_edit
from tests.unit.quota.builders import queue, queue_body, quota

ORG = queue("org", quota("nvidia.com/gpu", "8"))
SIBLING = queue("b", quota("nvidia.com/gpu", "4"), parent="org")
CHILD_A = queue_body("a", quota("nvidia.com/gpu", "2"), parent="org")
ROOT = queue_body("solo", quota("cpu", "16"))

REFUSED = [
    # (queue body, edit, problem the user is told)
    (CHILD_A, QuotaEdit("nvidia.com/gpu", "6"), "children of queue 'org' are promised 10 nvidia.com/gpu"),
    (CHILD_A, QuotaEdit("nvidia.com/gpu", "2", lending_limit="3"), "lendingLimit: 3 exceeds nominal 2"),
    (ROOT, QuotaEdit("cpu", "16", borrowing_limit="4"), "borrowingLimit: needs a parent"),
    (CHILD_A, QuotaEdit("nvidia.com/gpu", "lots"), "spec.quotas[0].nominal"),
]


@pytest.mark.parametrize(
    ("body", "edit", "says"), REFUSED, ids=["over-parent", "lend>nominal", "root-borrow", "quantity"]
)
def test_invalid_edits_are_refused_with_the_field(body: dict[str, Any], edit: QuotaEdit, says: str) -> None:
    result = validate_edit(body, edit, {"org": ORG, "b": SIBLING})
    assert not result.ok
    assert any(says in problem for problem in result.problems), result.problems


def test_a_valid_edit_replaces_the_matching_quota_and_keeps_other_limits() -> None:
    body = queue_body("a", quota("nvidia.com/gpu", "2", borrowingLimit="2"), quota("cpu", "8"), parent="org")
    result = validate_edit(
        body, QuotaEdit("nvidia.com/gpu", "3", lending_limit="1"), {"org": ORG, "b": SIBLING}
    )
    assert result.ok, result.problems
    assert result.body["spec"]["quotas"] == [
        {"resource": "nvidia.com/gpu", "nominal": "3", "borrowingLimit": "2", "lendingLimit": "1"},
        {"resource": "cpu", "nominal": "8"},
    ]
    assert body["spec"]["quotas"][0]["nominal"] == "2"  # the input is not modified


def test_a_new_resource_or_pool_is_appended() -> None:
    result = validate_edit(ROOT, QuotaEdit("nvidia.com/gpu", "4", pool="h100"), {})
    assert result.ok
    assert result.body["spec"]["quotas"][-1] == {"resource": "nvidia.com/gpu", "pool": "h100", "nominal": "4"}
