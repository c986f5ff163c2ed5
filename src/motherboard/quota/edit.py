"""``queue set``: change one quota of a Queue and validate the result as the admission webhook would. Pure.

Two checks, in the webhook's order: the pydantic model (the same rules as the CRD schema and CEL: quantities,
``lendingLimit <= nominal``, ``borrowingLimit`` needs a parent, each resource once) and then
:func:`motherboard.operator.validation.check_queue` over the other queues (a parent's quota covers its
children's). An edit either yields the new Queue or the field-level problems; nothing is written here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from motherboard.api.manifests import explain
from motherboard.api.v1alpha1 import Queue
from motherboard.operator.validation import Cluster, check_queue


@dataclass(frozen=True)
class QuotaEdit:
    """The quota to set on one resource (and optionally one pool) of a queue."""

    resource: str
    nominal: str
    borrowing_limit: str | None = None
    lending_limit: str | None = None
    pool: str | None = None


@dataclass
class EditResult:
    """The edited object (as sent to the API server) and, if it is refused, why."""

    body: dict[str, Any]
    queue: Queue | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def apply_edit(body: Mapping[str, Any], edit: QuotaEdit) -> dict[str, Any]:
    """The Queue object with ``edit`` applied: the matching quota replaced (limits not given are kept), or a
    new quota appended."""
    updated = copy.deepcopy(dict(body))
    quotas: list[dict[str, Any]] = updated.setdefault("spec", {}).setdefault("quotas", [])
    entry = next(
        (q for q in quotas if (q.get("resource"), q.get("pool")) == (edit.resource, edit.pool)), None
    )
    if entry is None:
        entry = {"resource": edit.resource, **({"pool": edit.pool} if edit.pool else {})}
        quotas.append(entry)
    entry["nominal"] = edit.nominal
    if edit.borrowing_limit is not None:
        entry["borrowingLimit"] = edit.borrowing_limit
    if edit.lending_limit is not None:
        entry["lendingLimit"] = edit.lending_limit
    return updated


def validate_edit(body: Mapping[str, Any], edit: QuotaEdit, others: Mapping[str, Queue]) -> EditResult:
    """Apply ``edit`` to ``body`` and check the result against the model and the rest of the hierarchy."""
    updated = apply_edit(body, edit)
    try:
        queue = Queue.model_validate({k: v for k, v in updated.items() if k != "status"})
    except ValidationError as exc:
        return EditResult(updated, None, explain(exc).splitlines())
    return EditResult(updated, queue, check_queue(queue, Cluster(queues=dict(others))))
