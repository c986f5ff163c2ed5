"""Dominant-resource fair share over borrowed quota (Kueue's fair sharing).

Within its own quota a queue is never "unfair"; fairness only decides who gets the *borrowed* capacity.
A queue's share is the largest, over resources, of what it borrows divided by what its parent could lend,
divided by its weight. Heads are tried in increasing share, so the queue that borrowed least (relative to
its weight) goes first, and a queue that borrows nothing always precedes one that does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from motherboard.scheduler.admission.resources import Resources
from motherboard.scheduler.admission.spec import Workload
from motherboard.scheduler.admission.tree import QuotaTree

_EMPTY = Resources()


def dominant_resource_share(tree: QuotaTree, queue: str, extra: Resources = _EMPTY) -> float:
    """The queue's dominant share of borrowed quota, were it to use ``extra`` more (0 when not borrowing).

    Share is in [0, 1] per resource before the weight; ``inf`` for a queue of weight 0 that borrows or a
    queue borrowing a resource its parent has no lendable quota of.
    """
    parent = tree.parent(queue)
    if parent is None:
        return 0.0
    share = 0.0
    for r in tree.managed:
        borrowed = tree.usage_of(queue, r) + extra.get_amount(r) - tree.nominal(queue, r)
        if borrowed <= 0:
            continue
        lendable = tree.nominal(parent, r)
        share = max(share, borrowed / lendable if lendable > 0 else math.inf)
    if share == 0.0:
        return 0.0
    weight = tree.spec(queue).weight
    return share / weight if weight > 0 else math.inf


def fair_share_key(tree: QuotaTree, workload: Workload) -> tuple[tuple[float, ...], int, float]:
    """Sort key of a head: shares along its queue's path (top first), then priority, then age.

    Comparing the top-most subtree's share first approximates Kueue's tournament over the tree: two
    teams of one department compete only after their departments have been compared.
    """
    path = tree.path(workload.queue)[1:]
    shares = tuple(dominant_resource_share(tree, name, workload.request) for name in path)
    return shares, -workload.priority, workload.created


def fair_share_order(tree: QuotaTree, heads: Iterable[Workload]) -> list[Workload]:
    """``heads`` in the order the cycle should try them; heads of unknown queues come last."""
    heads = list(heads)
    known = [w for w in heads if w.queue in tree]
    unknown = [w for w in heads if w.queue not in tree]
    return sorted(known, key=lambda w: fair_share_key(tree, w)) + unknown
