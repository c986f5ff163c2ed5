"""Which admitted workload holds which pods, and its charge in the quota tree.

A workload is charged in the tree from the moment a cycle assumes it (its pods in flight) until its last
pod ends or fails to bind; a bound pod of ours that this process did not bind (a restart, a previous
leader) is charged when it is first seen. Victims being evicted leave the admitted set (their quota is
already released) and come back if the eviction is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from motherboard.scheduler.admission import Resources, Victim, Workload
from motherboard.scheduler.cycle import NO_QUEUE, Cycle
from motherboard.scheduler.service.objects import PodInfo
from motherboard.scheduler.service.tenancy import Tenancy


class Holdings:
    """Admitted workloads, the pods that hold them, and their charge in the cycle's quota tree."""

    def __init__(self, tenancy: Tenancy, cycle: Cycle) -> None:
        self.tenancy, self.cycle = tenancy, cycle
        self.holding: dict[str, set[str]] = {}
        """Admitted workload → its pods (in flight or bound) that hold its quota."""
        self.admitted: dict[str, Workload] = {}
        self.evicting: dict[str, Workload] = {}
        """Victims being evicted: their quota is already released in the tree."""
        self._holder: dict[str, str] = {}
        """Pod → the workload it holds (the reverse of ``holding``: a pod's end is O(1), not O(workloads))."""

    def __contains__(self, workload: str) -> bool:
        return workload in self.holding

    def count(self, workload: str) -> int:
        """How many pods hold ``workload`` now."""
        return len(self.holding.get(workload, ()))

    def pods_of(self, workload: str) -> list[str]:
        return sorted(self.holding.get(workload, ()))

    def start(self, workload: Workload, pods: Iterable[str]) -> None:
        """A cycle assumed these pods: they hold the workload's quota until they end or binding fails."""
        held = self.holding.setdefault(workload.key, set())
        for key in pods:
            held.add(key)
            self._holder[key] = workload.key
        if workload.queue != NO_QUEUE:
            self.admitted[workload.key] = workload

    def hold_bound(self, info: PodInfo, workload: str) -> None:
        """A bound pod of ours not bound by this process (a restart, or a previous leader): charge its quota."""
        pods = self.holding.setdefault(workload, set())
        if info.key in pods:
            return
        pods.add(info.key)
        self._holder[info.key] = workload
        queue = self.tenancy.queue_for(info.queue, info.namespace)
        if queue == NO_QUEUE:
            return
        old = self.admitted.get(workload)
        request = info.quota if old is None else Resources(total([old.request, info.quota]))
        charged = Workload(workload, queue, request, info.request.priority, info.created, pods=len(pods))
        tree = self.cycle.tree
        tree.forget(workload)
        if queue in tree:
            tree.assume(charged)
        self.admitted[workload] = charged

    def release(self, key: str) -> bool:
        """Pod ``key`` holds nothing any more; ``True`` when that returned its workload's quota."""
        workload = self._holder.pop(key, None)
        pods = self.holding.get(workload) if workload is not None else None
        if workload is None or pods is None:
            return False
        pods.discard(key)
        if pods:
            return False
        del self.holding[workload]  # the whole workload is gone: its quota goes back to the tree
        self.admitted.pop(workload, None)
        self.evicting.pop(workload, None)
        self.cycle.tree.forget(workload)
        return True

    def start_preemption(self, victims: Sequence[Victim]) -> None:
        """The cycle released the victims' quota; they leave the admitted set until they are gone."""
        for victim in victims:
            workload = self.admitted.pop(victim.workload.key, None)
            if workload is not None:
                self.evicting[victim.workload.key] = workload

    def restore(self, victims: Sequence[Victim]) -> None:
        """Their eviction was refused: charge the victims' quota again."""
        tree = self.cycle.tree
        for victim in victims:
            workload = self.evicting.pop(victim.workload.key, None)
            if workload is not None and victim.workload.key in self.holding:
                self.admitted[workload.key] = workload
                if workload.queue in tree and not tree.is_admitted(workload.key):
                    tree.assume(workload)

    def recharge(self) -> None:
        """A Queue changed: a fresh tree from the tenancy, with every admitted workload charged in it."""
        tree = self.tenancy.tree()
        for workload in self.admitted.values():
            if workload.queue in tree:
                tree.assume(workload)
        self.cycle.replace_tree(tree)


def total(vectors: Iterable[Resources]) -> dict[str, int]:
    out: dict[str, int] = {}
    for vector in vectors:
        for name, amount in vector.items():
            out[name] = out.get(name, 0) + amount
    return out
