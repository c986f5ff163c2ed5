"""Choosing victims: preemption within a queue and reclaim of lent quota (Kueue's algorithm).

Two attempts, in order:

1. **Reclaim** — when the queue is under its nominal quota in every resource it lacks, it may take its
   quota back: candidates are its own lower-priority workloads *and* the workloads of queues that borrow,
   and the result must fit without borrowing (a queue reclaims only what it is owed).
2. **Within queue** — otherwise only its own lower-priority workloads are candidates; borrowing is allowed.

Candidates are ordered cheapest first (borrowers' workloads before own, lower priority, newest admitted),
evicted one by one until the workload fits, and then every victim that turns out unnecessary is put
back (newest choice kept, earlier ones re-tested), which leaves a minimal set. A non-preemptible
workload is never a candidate; a workload is a whole gang, so no gang is ever split.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from motherboard.scheduler.admission.resources import Resources
from motherboard.scheduler.admission.spec import ReclaimFromBorrowers, WithinQueue, Workload
from motherboard.scheduler.admission.tree import Admitted, QuotaTree


class PreemptionReason(StrEnum):
    """Why a victim is evicted."""

    WITHIN_QUEUE = "InQueuePreemption"
    """A higher-priority workload of the same queue needs the quota."""
    RECLAIM = "ReclaimWhileBorrowing"
    """The victim's queue borrows quota that its owner now wants back."""


@dataclass(frozen=True, slots=True)
class Victim:
    """A workload to evict, and the reason its owner will read in its events."""

    workload: Workload
    reason: PreemptionReason
    message: str


def contested(tree: QuotaTree, workload: Workload) -> list[str]:
    """The managed resources ``workload`` does not fit in now."""
    return [
        r
        for r, amount in workload.request.items()
        if r in tree.managed and amount > tree.available(workload.queue, r)
    ]


def plan_preemption(
    tree: QuotaTree, workload: Workload, *, exclude: Collection[str] = ()
) -> tuple[Victim, ...] | None:
    """A minimal set of victims after whose eviction ``workload`` fits, or ``None`` if there is none.

    ``exclude`` holds keys already chosen as victims in this cycle, so two preemptors never count the
    same freed quota.
    """
    needed = contested(tree, workload)
    if not needed:
        return ()
    policy = tree.spec(workload.queue).preemption
    own = [a for a in tree.admitted(workload.queue) if _may_preempt_own(policy.within_queue, workload, a)]
    own = [a for a in own if a.workload.key not in exclude and _uses(a.workload.request, needed)]
    under_nominal = all(tree.usage_of(workload.queue, r) < tree.nominal(workload.queue, r) for r in needed)
    if policy.reclaim_from_borrowers is not ReclaimFromBorrowers.NEVER and under_nominal:
        borrowing_queues = [
            q
            for q in tree.queues()
            if q != workload.queue and tree.is_leaf(q) and _borrows_from_us(tree, q, workload.queue, needed)
        ]
        borrowers = [
            a
            for q in borrowing_queues
            for a in tree.admitted(q)
            if a.workload.key not in exclude
            and _may_reclaim(policy.reclaim_from_borrowers, workload, a)
            and _uses(a.workload.request, needed)
        ]
        victims = _minimal_victims(tree, workload, _cheapest_first(borrowers, own), needed, borrow=False)
        if victims is not None:
            return victims
    if own:
        return _minimal_victims(tree, workload, _cheapest_first([], own), needed, borrow=True)
    return None


def _may_preempt_own(policy: WithinQueue, preemptor: Workload, candidate: Admitted) -> bool:
    other = candidate.workload
    if not other.preemptible or policy is WithinQueue.NEVER:
        return False
    if other.priority < preemptor.priority:
        return True
    return (
        policy is WithinQueue.LOWER_OR_NEWER_EQUAL_PRIORITY
        and other.priority == preemptor.priority
        and other.created > preemptor.created
    )


def _may_reclaim(policy: ReclaimFromBorrowers, preemptor: Workload, candidate: Admitted) -> bool:
    if not candidate.workload.preemptible:
        return False
    return policy is ReclaimFromBorrowers.ANY or candidate.workload.priority < preemptor.priority


def _borrows_from_us(tree: QuotaTree, queue: str, preemptor_queue: str, needed: list[str]) -> bool:
    # The candidate's side of the tree, below the ancestor it shares with us, uses more than it owns:
    # a team within its nominal still borrows when its department is over the department's quota.
    ours = set(tree.path(preemptor_queue))
    theirs = tree.path(queue)
    if theirs[0] not in ours:
        return False  # another tree: nothing it uses could ever be ours
    return any(tree.is_borrowing(name, needed) for name in theirs if name not in ours)


def _uses(request: Resources, resources: list[str]) -> bool:
    return any(request.get_amount(r) > 0 for r in resources)


def _cheapest_first(borrowers: list[Admitted], own: list[Admitted]) -> list[Admitted]:
    # Evicting a borrower's work returns quota to its rightful owner, so it goes before our own;
    # then the lowest priority, then the most recently admitted (the least work is lost).
    def key(a: Admitted) -> tuple[int, float, float]:
        return (a.workload.priority, -a.since, -a.workload.created)

    return sorted(borrowers, key=key) + sorted(own, key=key)


def _could_fit(
    tree: QuotaTree, workload: Workload, candidates: list[Admitted], needed: list[str], *, borrow: bool
) -> bool:
    """Whether evicting every candidate could make room: bounds checked before trying evictions.

    Releasing an amount of usage anywhere in the tree raises a queue's availability by at most that amount
    (each level passes on no more than it was given back), so if the candidates' requests together do not
    cover the shortfall, no subset of them does. Without borrowing, the queue's own usage must also come
    within its nominal, and only its own workloads lower that. Most waiting workloads stop here, at a sum
    per resource, instead of forgetting and restoring candidates across the tree in every cycle.
    """
    queue = workload.queue
    for r in needed:
        amount = workload.request.get_amount(r)
        short = amount - tree.available(queue, r)
        if short > 0 and sum(c.workload.request.get_amount(r) for c in candidates) < short:
            return False
        if not borrow:
            over = tree.usage_of(queue, r) + amount - tree.nominal(queue, r)
            own = sum(c.workload.request.get_amount(r) for c in candidates if c.workload.queue == queue)
            if over > own:
                return False
    return True


def _minimal_victims(
    tree: QuotaTree, workload: Workload, candidates: list[Admitted], needed: list[str], *, borrow: bool
) -> tuple[Victim, ...] | None:
    if not _could_fit(tree, workload, candidates, needed, borrow=borrow):
        return None
    removed: list[Admitted] = []
    try:
        fits = False
        for candidate in candidates:
            queue = candidate.workload.queue
            # A borrower loses work only while it still borrows what we need: once its usage is back
            # within its own quota, its remaining workloads are its by right.
            if queue != workload.queue and not _borrows_from_us(tree, queue, workload.queue, needed):
                continue
            tree.forget(candidate.workload.key)
            removed.append(candidate)
            if tree.fits(workload.queue, workload.request, allow_borrowing=borrow):
                fits = True
                break
        if not fits:
            return None
        # Drop back: the last victim was needed to fit; re-admit each earlier one that is not.
        victims = [removed[-1]]
        for candidate in reversed(removed[:-1]):
            tree.restore(candidate)
            if tree.fits(workload.queue, workload.request, allow_borrowing=borrow):
                continue
            tree.forget(candidate.workload.key)
            victims.append(candidate)
        return tuple(_victim(tree, workload, v) for v in reversed(victims))
    finally:
        for candidate in removed:
            if not tree.is_admitted(candidate.workload.key):
                tree.restore(candidate)


def _victim(tree: QuotaTree, preemptor: Workload, admitted: Admitted) -> Victim:
    victim = admitted.workload
    if victim.queue == preemptor.queue:
        why = (
            f"priority {preemptor.priority} > {victim.priority}"
            if preemptor.priority > victim.priority
            else f"same priority {victim.priority}, created earlier"
        )
        message = f"preempted in queue {victim.queue} by {preemptor.name} ({why})"
        return Victim(victim, PreemptionReason.WITHIN_QUEUE, message)
    return Victim(
        victim,
        PreemptionReason.RECLAIM,
        f"evicted from queue {victim.queue}, which borrows quota that queue {preemptor.queue} "
        f"reclaims for {preemptor.name}",
    )


def device_victims(
    tree: QuotaTree, workload: Workload, fits_after: Callable[[Sequence[str]], bool], *, limit: int = 32
) -> tuple[Victim, ...] | None:
    """Borrowers' workloads to evict so that an *entitled* ``workload`` fits on the devices, or ``None``.

    Quota-driven preemption cannot see this case: a queue within its nominal quota admits the workload, but
    the devices it is owed are held by queues that borrow, scattered so that no node has room for its gang.
    Only borrowers of the same tree lose work (as in reclaim), cheapest first, only while they still borrow;
    ``fits_after(keys)`` says whether the gang places once those workloads' pods are gone (the cycle tries
    it on the cache). Each chosen victim is then re-tested, newest kept, so the set is minimal. At most
    ``limit`` candidates are tried: this runs for every entitled gang that does not place.

    ``workload`` must be admitted (assumed in ``tree``); entitled means that no queue on its path uses more
    than its nominal of what the workload asks for, the workload included.
    """
    policy = tree.spec(workload.queue).preemption.reclaim_from_borrowers
    needed = [r for r, amount in workload.request.items() if r in tree.managed and amount > 0]
    if policy is ReclaimFromBorrowers.NEVER or not needed:
        return None
    if any(tree.usage_of(q, r) > tree.nominal(q, r) for q in tree.path(workload.queue) for r in needed):
        return None  # it borrows itself: nothing is owed to it
    borrowers = [
        a
        for q in tree.queues()
        if q != workload.queue and tree.is_leaf(q) and _borrows_from_us(tree, q, workload.queue, needed)
        for a in tree.admitted(q)
        if _may_reclaim(policy, workload, a) and _uses(a.workload.request, needed)
    ]
    if not borrowers:
        return None
    removed: list[Admitted] = []
    try:
        for candidate in _cheapest_first(borrowers, [])[:limit]:
            if not _borrows_from_us(tree, candidate.workload.queue, workload.queue, needed):
                continue  # its queue is back within its quota: what it still runs is its own
            if any(candidate.workload.request.get_amount(r) > tree.model.borrowed(candidate.workload.queue, r)
                   for r in needed):  # fmt: skip
                continue  # evicting it would leave its own queue below its quota: owed, and next to reclaim
            tree.forget(candidate.workload.key)
            removed.append(candidate)
            if fits_after([a.workload.key for a in removed]):
                break
        else:
            return None
        chosen = list(removed)
        for candidate in reversed(removed[:-1]):
            trial = [a for a in chosen if a is not candidate]
            if fits_after([a.workload.key for a in trial]):
                chosen = trial
        return tuple(_victim(tree, workload, a) for a in chosen)
    finally:
        for candidate in removed:
            tree.restore(candidate)
