""" "May it run now?" — admission decisions as values.

:func:`decide` answers for one workload without changing anything; :func:`admit_heads` runs the
admission half of a scheduling cycle over the queues' heads. A rejection is never an exception: it is a
:class:`Wait` with a reason code for programs and a message for people.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from motherboard.scheduler.admission.fairshare import fair_share_order
from motherboard.scheduler.admission.preemption import Victim, contested, plan_preemption
from motherboard.scheduler.admission.spec import Workload
from motherboard.scheduler.admission.tree import QuotaTree
from motherboard.scheduler.admission.units import format_amount


class WaitReason(StrEnum):
    """Why a workload cannot be admitted now."""

    OVER_QUOTA = "OverQuota"
    """Not enough free quota and nothing it may preempt; it may fit later."""
    EXCEEDS_LIMIT = "ExceedsLimit"
    """It asks for more than nominal + borrowing limit: it never fits this queue as configured."""
    RESERVED = "Reserved"
    """Another workload of the same queue tree is preempting for the same resources this cycle."""
    UNKNOWN_QUEUE = "UnknownQueue"
    INACTIVE_QUEUE = "InactiveQueue"
    """The queue exists but is left out of the tree: its parent is missing or its parents form a cycle."""
    NOT_A_LEAF = "NotALeafQueue"
    """Workloads go to leaf queues; parents only hold quota (as Kueue's cohorts)."""


@dataclass(frozen=True, slots=True)
class Admit:
    """It fits: reserve its quota (:meth:`QuotaTree.assume`) and go on to placement."""

    workload: Workload


@dataclass(frozen=True, slots=True)
class Preempt:
    """It fits once ``victims`` are evicted; it is admitted in a later cycle, after they are gone."""

    workload: Workload
    victims: tuple[Victim, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    """It cannot run now; requeue it (with backoff) and tell its owner ``message``."""

    workload: Workload
    reason: WaitReason
    message: str
    resource: str | None = None
    """The quota resource that blocks it, when there is one."""


Decision = Admit | Preempt | Wait


def decide(tree: QuotaTree, workload: Workload, *, exclude: Collection[str] = ()) -> Decision:
    """Whether ``workload`` may run now, may run after preempting, or must wait. Changes nothing.

    ``exclude`` lists workloads already chosen as victims this cycle (they cannot be chosen twice).
    """
    if workload.queue in tree.inactive:
        message = f"queue {workload.queue} admits nothing: {tree.inactive[workload.queue]}"
        return Wait(workload, WaitReason.INACTIVE_QUEUE, message)
    if workload.queue not in tree:
        return Wait(workload, WaitReason.UNKNOWN_QUEUE, f"queue {workload.queue} does not exist")
    if not tree.is_leaf(workload.queue):
        message = f"queue {workload.queue} has child queues; submit to a leaf queue"
        return Wait(workload, WaitReason.NOT_A_LEAF, message)
    needed = contested(tree, workload)
    if not needed:
        return Admit(workload)
    if workload.elastic:
        # Partial admission (Kueue's, Volcano's minAvailable): as many pods as the quota takes now, at
        # least the gang's minimum; the rest wait and join when quota frees. If not even the minimum fits,
        # the minimum is what waits or preempts.
        for count in range(workload.pods - 1, workload.min_pods - 1, -1):
            part = workload.first(count)
            if not contested(tree, part):
                return Admit(part)
    if tree.is_admitted(workload.key):  # a gang that runs already grows when quota frees, evicting nobody
        return _wait(
            tree, workload.first(1) if workload.elastic else workload, needed[0], WaitReason.OVER_QUOTA
        )
    if workload.elastic:
        workload = workload.first(workload.min_pods)
        needed = contested(tree, workload)
    never = [r for r in needed if tree.capacity(workload.queue, r) < workload.request.get_amount(r)]
    if never:
        return _wait(tree, workload, never[0], WaitReason.EXCEEDS_LIMIT)
    victims = plan_preemption(tree, workload, exclude=(*exclude, workload.key))
    if victims:
        names = ", ".join(v.workload.name for v in victims)
        what = ", ".join(format_amount(r, workload.request.get_amount(r)) for r in sorted(needed))
        return Preempt(workload, victims, f"needs {what} in queue {workload.queue}; preempting {names}")
    return _wait(tree, workload, needed[0], WaitReason.OVER_QUOTA)


def admit_heads(tree: QuotaTree, heads: Iterable[Workload], now: float = 0.0) -> list[Decision]:
    """Decide for each head in fair-share order, reserving quota of each admitted one as it goes.

    Admitted workloads are assumed in ``tree`` (forget them if placement fails). Victims are not evicted
    here: the caller evicts them, and the preemptor retries in a later cycle. Once a workload preempts,
    later heads of the same tree that need the same resources wait, so they cannot take what is freed.
    """
    decisions: list[Decision] = []
    victims: set[str] = set()
    reserved: dict[str, set[str]] = {}  # root queue -> resources a preemptor is freeing this cycle
    for workload in fair_share_order(tree, heads):
        if workload.queue in tree:
            root = tree.root_of(workload.queue)
            blocked = reserved.get(root, set()) & set(workload.request)
            if blocked:
                resource = sorted(blocked)[0]
                message = f"{resource} in queue {workload.queue}'s tree is being freed for another workload"
                decisions.append(Wait(workload, WaitReason.RESERVED, message, resource))
                continue
        decision = decide(tree, workload, exclude=victims)
        if isinstance(decision, Admit):
            if tree.is_admitted(workload.key):  # more pods of a partially admitted elastic gang
                tree.grow(decision.workload, now)
            else:
                tree.assume(decision.workload, now)
        elif isinstance(decision, Preempt):
            victims.update(v.workload.key for v in decision.victims)
            reserved.setdefault(tree.root_of(workload.queue), set()).update(contested(tree, workload))
        decisions.append(decision)
    return decisions


def _limit_text(tree: QuotaTree, queue: str, resource: str) -> str:
    nominal = format_amount(resource, tree.model.nominal(queue, resource))
    borrowing = tree.model.borrowing_limit(queue, resource)
    if tree.parent(queue) is None:
        return f"nominal {nominal}"
    if borrowing is None:
        return f"nominal {nominal}, no borrowing limit"
    return f"nominal {nominal} + borrowing limit {format_amount(resource, borrowing)}"


def _wait(tree: QuotaTree, workload: Workload, resource: str, reason: WaitReason) -> Wait:
    # The message names the limit that binds (this queue's own, or an ancestor's pool) in the units the
    # owner wrote, so the fix is obvious: a smaller job, a bigger quota, or waiting for the named queue.
    queue = workload.queue
    needs = format_amount(resource, workload.request.get_amount(resource))
    name = workload.name
    if reason is WaitReason.EXCEEDS_LIMIT:
        binding = tree.model.binding(queue, resource, idle=True)
        most = format_amount(resource, max(0, tree.capacity(queue, resource)))
        where = "its" if binding == queue else f"its parent queue {binding}'s"
        message = (
            f"{name} can never run in queue {queue}: it needs {needs}, and the most the queue can ever hold "
            f"is {most} ({where} {_limit_text(tree, binding, resource)})"
        )
        return Wait(workload, reason, message, resource)
    binding = tree.model.binding(queue, resource)
    free = format_amount(resource, max(0, tree.available(queue, resource)))
    used = format_amount(resource, tree.model.usage(binding, resource))
    if binding == queue:
        limit = f"queue {queue} uses {used} of its {_limit_text(tree, queue, resource)}"
    else:
        limit = f"its parent queue {binding} uses {used} of its {_limit_text(tree, binding, resource)}"
    message = f"queue {queue} has {free} free, {name} needs {needs}: {limit}"
    return Wait(workload, reason, message, resource)
