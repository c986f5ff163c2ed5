"""The scheduling cycle as a story: heads → admit → place gang → assume → hand over for binding.

Pure: it reads and writes the scheduler core (queues, quota tree, cluster cache) and returns *actions* —
bind this gang, evict these victims, tell these pods why they wait — that an adapter carries out: the
Kubernetes one (:mod:`motherboard.scheduler.service`) or the simulator's job replay
(:mod:`motherboard.scheduler.simulate.jobreplay`, on a virtual clock). Both answer the same port
(:class:`Gangs`) and change the core only through the queues, the cache, :meth:`Cycle.cancel_reservation`
and :meth:`Cycle.replace_tree`. A gang is placed whole or not at all; the adapter forgets it again if
binding fails.

**Batched.** One cycle places many workloads on *one* snapshot: every gang is placed inside the cycle's
single transaction (a gang that does not fit rolls back only its own allocations), and the transaction is
committed once, at the end of the cycle or before anything else writes the cache (a preemption, a
reservation forgotten). Copying the state arrays per pod — a snapshot and a transaction per gang — was
the cycle's largest cost on a cluster of hundreds of nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from motherboard.api.assignment import DeviceAssignment
from motherboard.scheduler.admission import (
    Admit,
    Decision,
    Preempt,
    QuotaTree,
    Victim,
    Wait,
    WaitReason,
    Workload,
    device_victims,
)
from motherboard.scheduler.admission import admit_heads as _admit_heads
from motherboard.scheduler.cache import ClusterCache, Placement, PodRequest, Transaction, device_assignment
from motherboard.scheduler.placement import GangOutcome, Placer, Status
from motherboard.scheduler.queueing import QueueManager

NO_QUEUE = "~unqueued"
"""The queue of pods that name no Queue and whose namespace no Queue serves: placed without quota (there is
no tenant to charge), still in priority order. Not a valid Queue name, so it never collides with one."""


class Gangs(Protocol):
    """What the cycle asks the adapter about pods (the adapter's watch state)."""

    def members(self, key: str) -> Sequence[PodRequest]:
        """The pending pods of workload ``key`` now, or nothing if it is no longer complete."""
        ...

    def pods_of(self, key: str) -> Sequence[str]:
        """The cache names of the pods an admitted workload holds (preemption victims)."""
        ...

    def any_alive(self, pods: Sequence[str]) -> bool:
        """Whether any of these pods still exists (victims not gone yet)."""
        ...


@dataclass(frozen=True)
class Reservation:
    """A preemptor's placements, assumed in the cache while its victims leave."""

    placements: tuple[Placement, ...]
    victims: tuple[str, ...]


@dataclass(frozen=True)
class Bind:
    """A gang placed and assumed: write its assignments, then bind every pod."""

    workload: Workload
    placements: tuple[Placement, ...]
    assignments: tuple[DeviceAssignment, ...]


@dataclass(frozen=True)
class Evict:
    """Victims to evict for ``preemptor``; ``nominated`` is where it goes once they are gone (reserved)."""

    preemptor: Workload
    victims: tuple[Victim, ...]
    victim_pods: tuple[str, ...]
    nominated: tuple[Placement, ...]
    message: str


@dataclass(frozen=True)
class Pending:
    """The workload waits; its pods should say :attr:`message` (PodScheduled=False, reason Unschedulable)."""

    workload: Workload
    text: str | Callable[[], str]
    """The message, or how to write it once someone reads it (admission's :attr:`Wait.text`)."""
    never: bool = False
    """The verdict cannot change as the queues are configured (it asks for more than its queue can ever
    hold): reason ``NeverFits``, which the operator turns into a terminal condition."""
    reason: str = "NoFit"
    """Why, as one word for metrics: admission's :class:`WaitReason` (``OverQuota``...), ``NoFit`` (no node
    has room), ``GangNoFit`` (not all of a gang's pods fit), ``PreemptionPending`` (victims still leaving)
    or ``NoFitAfterPreemption``."""

    @property
    def message(self) -> str:
        return self.text if isinstance(self.text, str) else self.text()


Action = Bind | Evict | Pending


@dataclass
class CycleResult:
    actions: list[Action] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent per extension point (``heads``, ``admit``, ``place``), for the latency histograms."""

    def _add(self, point: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[point] = self.seconds.get(point, 0.0) + now - since
        return now


@dataclass
class Cycle:
    """One scheduler's core state and the cycle that runs over it."""

    queues: QueueManager
    tree: QuotaTree
    cache: ClusterCache
    placer: Placer
    gangs: Gangs
    reserved: dict[str, Reservation] = field(default_factory=dict)
    """Preemptors' placements, assumed while their victims leave, so nobody else takes the devices."""
    refresh: Callable[[], None] | None = None
    """Called first in every cycle: the adapter applies the node changes it has collected since."""
    _batch: Transaction | None = field(default=None, init=False, repr=False)
    """The cycle's transaction: the gangs placed so far in this cycle, not yet assumed in the cache."""

    def run(self, now: float | None = None, limit: int = 256) -> CycleResult:
        """Schedule up to ``limit`` workloads; returns what the adapter must do."""
        result = CycleResult()
        if self.refresh is not None:
            self.refresh()
        try:
            self._run(result, now, limit)
        finally:
            self._flush()  # assume every gang placed in this cycle
        return result

    def _run(self, result: CycleResult, now: float | None, limit: int) -> None:
        taken = 0
        while taken < limit:
            # 1. Heads: one ready workload per queue, highest priority first (parked ones wait their backoff).
            t = time.perf_counter()
            heads = self.queues.heads(now)
            t = result._add("heads", t)
            if not heads:
                break
            taken += len(heads)
            # 2. Admit against the quota tree in fair-share order; admitted workloads are assumed in it.
            decisions = self._admit(heads, now)
            result._add("admit", t)
            for decision in decisions:
                # 3.–4. Place each admitted gang in a transaction and assume it; or preempt, or wait.
                t = time.perf_counter()
                action = self._step(decision, now)
                result._add("place", t)
                if action is not None:
                    result.actions.append(action)

    # --- the adapters' interface: what an adapter may change in the core besides queues and cache ------
    def cancel_reservation(self, key: str) -> Reservation | None:
        """Drop a preemptor's reservation (its eviction was refused): its placements leave the cache."""
        reservation = self.reserved.pop(key, None)
        if reservation is not None:
            self._forget(reservation.placements)
        return reservation

    def replace_tree(self, tree: QuotaTree) -> None:
        """Admit against ``tree`` from now on (the queues changed; the adapter charged what runs in it)."""
        self.tree = tree

    def _admit(self, heads: list[Workload], now: float | None) -> list[Decision]:
        unqueued = [Admit(w) for w in heads if w.queue == NO_QUEUE]
        # ``now`` dates each admission (the newest admitted are the cheapest victims); the live adapter
        # passes no time and every admission is dated 0, as before.
        at = 0.0 if now is None else now
        queued = [w for w in heads if w.queue != NO_QUEUE]
        # A preemptor whose victims were evicted for it is admitted first: the quota they freed is its own.
        # In fair-share order another tenant's head could take it, fail to place on the devices reserved
        # for the preemptor, and leave both waiting for ever (found by the job replay's invariants).
        first = [w for w in queued if w.key in self.reserved]
        rest = [w for w in queued if w.key not in self.reserved] if first else queued
        return [*unqueued, *_admit_heads(self.tree, first, at), *_admit_heads(self.tree, rest, at)]

    def _step(self, decision: Decision, now: float | None) -> Action | None:
        workload = decision.workload
        pods = self.gangs.members(workload.key)
        if not pods:  # a member left since the workload was queued: the adapter re-queues it when complete
            self._release(workload)
            return None
        if workload.min_pods and workload.pods < len(pods):
            pods = pods[: workload.pods]  # partially admitted: its first pods (the rest wait for quota)
        if isinstance(decision, Wait):
            self.queues.requeue(workload, now)
            never = decision.reason is WaitReason.EXCEEDS_LIMIT
            return Pending(workload, decision.text, never=never, reason=decision.reason.value)
        if isinstance(decision, Preempt):
            return self._preempt(decision, pods, now)
        return self._place(workload, pods, now)

    def _place(self, workload: Workload, pods: Sequence[PodRequest], now: float | None) -> Action:
        reserved = self.reserved.get(workload.key)
        if reserved is not None and [p.pod.name for p in reserved.placements] == [p.name for p in pods]:
            if self.gangs.any_alive(reserved.victims):  # binding now would share devices with a victim
                self._release(workload)
                self.queues.requeue(workload, now)
                return Pending(
                    workload, "waiting for preempted pods to terminate", reason="PreemptionPending"
                )
            del self.reserved[workload.key]
            self.queues.delete(workload.key)
            return self._bind(workload, reserved.placements)  # already assumed when its victims were chosen
        if reserved is not None:  # the gang changed since: place it afresh
            self._forget(self.reserved.pop(workload.key).placements)
        if self._batch is None:
            self._batch = Transaction(self.cache)
        outcome = self.placer.place_gang(pods, self._batch)  # a gang that fails leaves nothing in it
        if not outcome.ok and workload.min_pods and len(pods) > workload.min_pods:
            workload, outcome = self._place_fewer(workload, pods, outcome)
        if not outcome.ok and workload.queue != NO_QUEUE:
            evict = self._reclaim_devices(workload, pods, now)
            if evict is not None:
                return evict
        if not outcome.ok:
            self._release(workload)
            self.queues.requeue(workload, now)
            return Pending(
                workload, gang_message(pods, outcome.status), reason="GangNoFit" if len(pods) > 1 else "NoFit"
            )
        self.queues.delete(workload.key)
        return self._bind(workload, outcome.placements)

    def _reclaim_devices(
        self, workload: Workload, pods: Sequence[PodRequest], now: float | None
    ) -> Evict | None:
        """An admitted gang within its queue's nominal quota that does not place: evict borrowers' work until
        it does (:func:`device_victims`), reserve the devices, and admit it once they are gone.

        Without this, a tenant owed GPUs waits for completions while other tenants' borrowed gangs hold them
        scattered over the nodes: quota says it fits, so quota-driven preemption never starts.
        """
        self._flush()  # victims are chosen on the cache with this cycle's placements assumed
        victims = self._device_victims(workload, pods, ())
        if victims is None:
            return None
        txn, outcome, victim_pods = self._attempt(pods, [v.workload.key for v in victims])
        if not outcome.ok:  # cannot happen (the same attempt fitted a moment ago); wait as before
            txn.discard()
            return None
        txn.commit()  # victims leave the cache, the gang's placements are reserved in it
        self._release(workload)  # admitted again, first, once its victims are gone
        self.queues.requeue(workload, now)
        for victim in victims:
            self.tree.forget(victim.workload.key)
        self.reserved[workload.key] = Reservation(outcome.placements, victim_pods)
        names = ", ".join(v.workload.name for v in victims)
        message = (
            f"queue {workload.queue} is within its nominal quota but no node has room; preempting {names}"
        )
        return Evict(workload, victims, victim_pods, outcome.placements, message)

    def _attempt(
        self, pods: Sequence[PodRequest], victims: Sequence[str]
    ) -> tuple[Transaction, GangOutcome, tuple[str, ...]]:
        """Place the gang in a new transaction in which the ``victims`` workloads' pods are evicted."""
        names = tuple(n for key in victims for n in self.gangs.pods_of(key))
        txn = Transaction(self.cache)
        for name in names:
            if self.cache.placement(name) is not None:
                txn.evict(name)
        return txn, self.placer.place_gang(pods, txn), names

    def _device_victims(
        self, workload: Workload, pods: Sequence[PodRequest], chosen: Sequence[str]
    ) -> tuple[Victim, ...] | None:
        """Borrowers' workloads to evict, besides the ``chosen`` ones, for the gang to place (or ``None``)."""

        def fits_after(keys: Sequence[str]) -> bool:
            txn, outcome, _ = self._attempt(pods, [*chosen, *keys])
            txn.discard()
            return outcome.ok

        return device_victims(self.tree, workload, fits_after)

    def _place_fewer(
        self, workload: Workload, pods: Sequence[PodRequest], failed: GangOutcome
    ) -> tuple[Workload, GangOutcome]:
        """An elastic gang that does not fit whole: the most of its first pods (at least its minimum) that
        fit, found by bisection (fewer pods never fit worse), charged in the tree instead of all of them."""
        assert self._batch is not None
        low, high, count = workload.min_pods, len(pods) - 1, 0
        while low <= high:
            middle = (low + high) // 2
            trial = self.placer.place_gang(pods[:middle], self._batch)
            if trial.ok:
                self._batch.rollback(len(trial.placements))  # probing only: placed for real below
                count, low = middle, middle + 1
            else:
                high = middle - 1
        best = self.placer.place_gang(pods[:count], self._batch) if count else failed
        if not best.ok:
            return workload, failed
        part = workload.first(count)
        if workload.queue != NO_QUEUE:
            self.tree.retract(workload.key)
            if self.tree.is_admitted(workload.key):
                self.tree.grow(part)
            else:
                self.tree.assume(part)
        return part, best

    def _preempt(self, decision: Preempt, pods: Sequence[PodRequest], now: float | None) -> Action:
        # Evict only if the preemptor then fits somewhere: evicting for nothing would only lose work.
        workload = decision.workload
        self._flush()  # the victims are chosen on the cache with this cycle's placements assumed
        if workload.key in self.reserved:  # it needs more than last time: start over
            self._forget(self.reserved.pop(workload.key).placements)
        victims, reason = decision.victims, decision.reason
        txn, outcome, victim_pods = self._attempt(pods, [v.workload.key for v in victims])
        self.queues.requeue(workload, now)
        if not outcome.ok:
            # The quota's victims do not free whole nodes: add borrowers' work that does, if it is owed.
            txn.discard()
            more = self._owed_devices(decision, pods)
            if more:
                victims = (*victims, *more)
                reason += f", and {', '.join(v.workload.name for v in more)} to make room on the nodes"
                txn, outcome, victim_pods = self._attempt(pods, [v.workload.key for v in victims])
            if not outcome.ok:
                txn.discard()
                return Pending(
                    workload,
                    f"{decision.reason}, but it would still not fit: {outcome.status.message}",
                    reason="NoFitAfterPreemption",
                )
        txn.commit()  # victims leave the cache, the preemptor's placements are reserved in it
        for victim in victims:
            self.tree.forget(victim.workload.key)
        self.reserved[workload.key] = Reservation(outcome.placements, victim_pods)
        return Evict(workload, victims, victim_pods, outcome.placements, reason)

    def _owed_devices(self, decision: Preempt, pods: Sequence[PodRequest]) -> tuple[Victim, ...] | None:
        """:meth:`_device_victims` for a preemptor, judged in the tree as it will be: its quota victims gone
        and itself admitted (so "within its nominal" counts it). The tree is left as it was."""
        workload = decision.workload
        gone = [a for v in decision.victims if (a := self.tree.forget(v.workload.key)) is not None]
        self.tree.assume(workload)
        try:
            return self._device_victims(workload, pods, [v.workload.key for v in decision.victims])
        finally:
            self.tree.forget(workload.key)
            for admitted in gone:
                self.tree.restore(admitted)

    def _bind(self, workload: Workload, placements: tuple[Placement, ...]) -> Bind:
        state = self.cache.live_state  # device ids are static: any state of this cache names them alike
        if workload.queue != NO_QUEUE:
            self.tree.settle(workload.key)
            workload = self.tree.workload(workload.key) or workload  # a grown gang: charged for all its pods
        return Bind(workload, placements, tuple(device_assignment(state, p) for p in placements))

    def _release(self, workload: Workload) -> None:
        if workload.queue != NO_QUEUE:
            self.tree.retract(workload.key)  # a growth goes back to what the gang held before

    def _flush(self) -> None:
        """Assume the gangs placed so far (the cache changes under no open transaction)."""
        batch, self._batch = self._batch, None
        if batch is not None and batch.allocated:
            batch.commit()
        elif batch is not None:
            batch.discard()

    def _forget(self, placements: Sequence[Placement]) -> None:
        self._flush()
        for placement in placements:
            if self.cache.placement(placement.pod.name) is not None:
                self.cache.forget(placement.pod.name)


def gang_message(pods: Sequence[PodRequest], status: Status) -> str:
    """Why a gang does not fit, saying how many of its pods did ("gang needs 8 but 5 fit: …")."""
    for i, pod in enumerate(pods):
        prefix = f"pod {pod.name}: "
        if status.message.startswith(prefix):
            reason = status.message[len(prefix) :]
            return reason if len(pods) == 1 else f"gang needs {len(pods)} pods but {i} fit: {reason}"
    return f"gang of {len(pods)} pods does not fit: {status.message}"
