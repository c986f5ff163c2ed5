""" "May it run now?" — admission decisions as values.

:func:`decide` answers for one workload without changing anything; :func:`admit_heads` runs the
admission half of a scheduling cycle over the queues' heads. A rejection is never an exception: it is a
:class:`Wait` with a reason code for programs and a message for people.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
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
    """It cannot run now; requeue it (with backoff) and tell its owner :attr:`message`."""

    workload: Workload
    reason: WaitReason
    text: str | Callable[[], str]
    """The message, or how to write it: most waits are decided again before anyone reads why (a replay reads
    almost none), so the amounts are taken when deciding and put in words only when asked."""
    resource: str | None = None
    """The quota resource that blocks it, when there is one."""

    @property
    def message(self) -> str:
        return self.text if isinstance(self.text, str) else self.text()


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


def admit_heads(tree: QuotaTree, heads: Collection[Workload], now: float = 0.0) -> list[Decision]:
    """Decide for each head in fair-share order, reserving quota of each admitted one as it goes.

    Admitted workloads are assumed in ``tree`` (forget them if placement fails). Victims are not evicted
    here: the caller evicts them, and the preemptor retries in a later cycle. Once a workload preempts,
    later heads of the same tree that need the same resources wait, so they cannot take what is freed.
    """
    decisions: list[Decision] = []
    if not heads:
        return decisions
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


def _limit(tree: QuotaTree, queue: str, resource: str) -> Callable[[], str]:
    """The queue's limit of ``resource`` as read now, worded when called."""
    nominal = tree.model.nominal(queue, resource)
    borrowing = tree.model.borrowing_limit(queue, resource)
    root = tree.parent(queue) is None

    def text() -> str:
        if root:
            return f"nominal {format_amount(resource, nominal)}"
        if borrowing is None:
            return f"nominal {format_amount(resource, nominal)}, no borrowing limit"
        return f"nominal {format_amount(resource, nominal)} + borrowing limit {format_amount(resource, borrowing)}"

    return text


def _wait(tree: QuotaTree, workload: Workload, resource: str, reason: WaitReason) -> Wait:
    # The message names the limit that binds (this queue's own, or an ancestor's pool) in the units the
    # owner wrote, so the fix is obvious: a smaller job, a bigger quota, or waiting for the named queue.
    # The numbers are read now (the tree moves on); the words are written when someone reads them.
    queue, name = workload.queue, workload.name
    needed = workload.request.get_amount(resource)
    if reason is WaitReason.EXCEEDS_LIMIT:
        binding = tree.model.binding(queue, resource, idle=True)
        most = max(0, tree.capacity(queue, resource))
        limit = _limit(tree, binding, resource)

        def never() -> str:
            where = "its" if binding == queue else f"its parent queue {binding}'s"
            return (
                f"{name} can never run in queue {queue}: it needs {format_amount(resource, needed)}, and the "
                f"most the queue can ever hold is {format_amount(resource, most)} ({where} {limit()})"
            )

        return Wait(workload, reason, never, resource)
    binding = tree.model.binding(queue, resource)
    free = max(0, tree.available(queue, resource))
    used = tree.model.usage(binding, resource)
    limit = _limit(tree, binding, resource)

    def over() -> str:
        whose = f"queue {queue}" if binding == queue else f"its parent queue {binding}"
        return (
            f"queue {queue} has {format_amount(resource, free)} free, {name} needs "
            f"{format_amount(resource, needed)}: {whose} uses {format_amount(resource, used)} of its {limit()}"
        )

    return Wait(workload, reason, over, resource)
