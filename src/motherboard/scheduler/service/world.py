"""Everything the scheduler knows, fed by watch events, and the cycle that runs over it.

One asyncio thread owns it: watch handlers, the cycle and the binding callbacks all run on the event
loop, so nothing here locks. Pods are sorted into three sets:

* **pending** — ours (``schedulerName: motherboard-scheduler``), unbound, grouped by workload (a gang);
  a workload is queued once it has ``min-available`` members (minus members already bound);
* **in flight** — assumed by a cycle, being annotated and bound; watch updates leave them alone;
* **bound** — charged in the cache at the devices of their assignment annotation (anyone's pods: other
  schedulers' pods use CPU, memory and devices too), and, for ours, in the quota tree under their workload.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from motherboard.scheduler.admission import Resources, Workload
from motherboard.scheduler.binding import StaleAssignment, fallback_placement, placement_from_assignment
from motherboard.scheduler.cache import AccountingError, ClusterCache, NodeSpec, PodRequest
from motherboard.scheduler.cycle import NO_QUEUE, Cycle, Evict
from motherboard.scheduler.placement import Placer, Profile
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.queueing import Backoff, QueueManager
from motherboard.scheduler.service.objects import PodInfo, node_spec, pod_info
from motherboard.scheduler.service.tenancy import Tenancy

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class World:
    """Watch state + core state; implements the cycle's :class:`~motherboard.scheduler.cycle.Gangs`."""

    def __init__(self, profile: Profile, backoff: Backoff | None = None) -> None:
        self.nodes: dict[str, NodeSpec] = {}
        self.cache = ClusterCache()
        self.tenancy = Tenancy()
        self.queues = QueueManager(backoff=backoff or Backoff(base=0.5, cap=30.0))
        self.pods: dict[str, PodInfo] = {}
        self.pending: dict[str, dict[str, PodInfo]] = {}
        """Workload key → its pending pods."""
        self.workload_of: dict[str, str] = {}
        """Pending or in-flight pod → workload key."""
        self.in_flight: set[str] = set()
        self.holding: dict[str, set[str]] = {}
        """Admitted workload → its pods (in flight or bound) that hold its quota."""
        self.admitted: dict[str, Workload] = {}
        self.evicting: dict[str, Workload] = {}
        """Victims being evicted: their quota is already released in the tree."""
        self.victims: set[str] = set()
        """Their pods: no longer charged in the cache (a preemptor holds their devices)."""
        self.uncharged: dict[str, PodInfo] = {}
        """Bound pods whose node is not in the cache yet."""
        self.changed = False
        """Set when something may let a waiting workload run; the loop wakes on it."""
        placer = Placer(profile, default_registry(self.nodes))
        self.cycle = Cycle(self.queues, self.tenancy.tree(), self.cache, placer, self)

    # --- Gangs protocol -----------------------------------------------------------------------------------
    def members(self, key: str) -> Sequence[PodRequest]:
        pods = self.pending.get(key, {})
        if len(pods) < self._needed(key, pods):
            return ()
        return [p.request for p in sorted(pods.values(), key=lambda p: p.key)]

    def pods_of(self, key: str) -> Sequence[str]:
        return sorted(self.holding.get(key, ()))

    def any_alive(self, pods: Sequence[str]) -> bool:
        return any(p in self.pods for p in pods)

    # --- nodes ---------------------------------------------------------------------------------------------
    def on_node(self, obj: Obj, deleted: bool = False) -> None:
        name = obj["metadata"]["name"]
        if deleted:
            self.nodes.pop(name, None)
            dropped = self.cache.remove_node(name)
        else:
            spec = node_spec(obj)
            old = self.nodes.get(name)
            if old is not None and old == spec and old.labels == spec.labels:
                return  # heartbeats change nothing the scheduler reads
            self.nodes[name] = spec
            dropped = self.cache.upsert_node(spec)
            for info in list(self.uncharged.values()):
                if info.node == name:
                    del self.uncharged[info.key]
                    self._charge(info)
        for placement in dropped:
            log.warning("pod %s no longer fits node %s after a node change", placement.pod.name, name)
        self._freed()

    # --- queues and pools ---------------------------------------------------------------------------------
    def on_queue(self, obj: Obj, deleted: bool = False) -> None:
        if deleted:
            self.tenancy.remove_queue(obj["metadata"]["name"])
        else:
            self.tenancy.upsert_queue(obj)
        self.rebuild_tree()

    def on_pool(self, obj: Obj, deleted: bool = False) -> None:
        if deleted:
            self.tenancy.remove_pool(obj["metadata"]["name"])
        else:
            self.tenancy.upsert_pool(obj)

    def rebuild_tree(self) -> None:
        """A Queue changed: rebuild the tree and re-charge every admitted workload in it."""
        tree = self.tenancy.tree()
        for workload in self.admitted.values():
            if workload.queue in tree:
                tree.assume(workload)
        self.cycle.tree = tree
        for key, pods in list(self.pending.items()):  # a pod's queue may come from its namespace's Queue
            self._push(key, pods)
        self._freed()

    # --- pods ------------------------------------------------------------------------------------------------
    def on_pod(self, obj: Obj, deleted: bool = False) -> None:
        info = pod_info(obj)
        if deleted or info.done:
            self.drop_pod(info.key)
            return
        self.pods[info.key] = info
        if info.node is not None:
            self._unpend(info.key)
            if info.key not in self.victims:  # a victim's devices already belong to its preemptor
                self._charge(info)
        elif info.ours and info.key not in self.in_flight and not info.disrupted:
            self._pend(info)

    def drop_pod(self, key: str) -> None:
        """The pod finished or was deleted: release what it held."""
        self.pods.pop(key, None)
        self.uncharged.pop(key, None)
        self.victims.discard(key)
        self._unpend(key)
        self.in_flight.discard(key)
        if self.cache.placement(key) is not None:
            self.cache.forget(key)
            self._freed()
        for wkey, pods in list(self.holding.items()):
            if key in pods:
                pods.discard(key)
                if not pods:  # the whole workload is gone: its quota goes back to the tree
                    del self.holding[wkey]
                    self.admitted.pop(wkey, None)
                    self.evicting.pop(wkey, None)
                    self.cycle.tree.forget(wkey)
                    self._freed()

    # --- binding outcomes (called by the binder) ----------------------------------------------------------------
    def start_binding(self, workload: Workload, pods: Sequence[str]) -> None:
        """A cycle assumed these pods: they hold the workload's quota until they end or binding fails."""
        for key in pods:
            self._unpend(key)
            self.in_flight.add(key)
            self.workload_of[key] = workload.key
        self.holding.setdefault(workload.key, set()).update(pods)
        if workload.queue != NO_QUEUE:
            self.admitted[workload.key] = workload

    def bound(self, key: str) -> None:
        self.in_flight.discard(key)
        if self.cache.placement(key) is not None and not self.cache.is_bound(key):
            self.cache.confirm(key)

    def binding_failed(self, key: str) -> None:
        """Forget the pod's assumption and put it back in its queue, if it still exists unbound."""
        self.in_flight.discard(key)
        if self.cache.placement(key) is not None and not self.cache.is_bound(key):
            self.cache.forget(key)
        self.drop_hold(key)
        info = self.pods.get(key)
        if info is not None and info.node is None and info.ours:
            self._pend(info, backoff=True)
        self._freed()

    def start_preemption(self, action: Evict) -> None:
        """The cycle released the victims' quota and devices; they leave the admitted set until they go."""
        for victim in action.victims:
            workload = self.admitted.pop(victim.workload.key, None)
            if workload is not None:
                self.evicting[victim.workload.key] = workload
        self.victims.update(action.victim_pods)

    def preemption_failed(self, action: Evict) -> None:
        """An eviction was refused: drop the preemptor's reservation and charge the victims again."""
        reservation = self.cycle.reserved.pop(action.preemptor.key, None)
        for placement in reservation.placements if reservation else ():
            if self.cache.placement(placement.pod.name) is not None:
                self.cache.forget(placement.pod.name)
        for victim in action.victims:
            workload = self.evicting.pop(victim.workload.key, None)
            if workload is not None and victim.workload.key in self.holding:
                self.admitted[workload.key] = workload
                if workload.queue in self.cycle.tree and not self.cycle.tree.is_admitted(workload.key):
                    self.cycle.tree.assume(workload)
        for key in action.victim_pods:
            self.victims.discard(key)
            info = self.pods.get(key)
            if info is not None and info.node is not None:
                self._charge(info)
        self._freed()

    def drop_hold(self, key: str) -> None:
        for wkey, pods in list(self.holding.items()):
            if key in pods:
                pods.discard(key)
                if not pods:
                    del self.holding[wkey]
                    self.admitted.pop(wkey, None)
                    self.cycle.tree.forget(wkey)

    # --- internals -------------------------------------------------------------------------------------------
    def _charge(self, info: PodInfo) -> None:
        if self.cache.placement(info.key) is not None:
            if info.key not in self.in_flight and not self.cache.is_bound(info.key):
                self.cache.confirm(info.key)
            return
        assert info.node is not None
        if info.node not in self.nodes:
            self.uncharged[info.key] = info
            return
        state = self.cache.live_state
        try:
            placement = placement_from_assignment(state, info.request, info.assignment, info.node)
        except StaleAssignment as exc:
            log.warning("pod %s: %s; charging CPU and memory only", info.key, exc)
            placement = fallback_placement(state, self.cache.catalog, info.request, info.node, devices=False)
        else:
            if info.assignment is None:  # another scheduler's pod: count its devices where they would be
                placement = fallback_placement(state, self.cache.catalog, info.request, info.node)
        try:
            self.cache.assume(placement)
        except AccountingError as exc:
            log.error("pod %s on %s over-commits the node (%s); not charged", info.key, info.node, exc)
            return
        self.cache.confirm(info.key)
        if info.ours:
            self._hold(info)

    def _hold(self, info: PodInfo) -> None:
        # A bound pod of ours not bound by this process (a restart, or a previous leader): charge its quota.
        wkey = self.workload_of.get(info.key, info.gang)
        pods = self.holding.setdefault(wkey, set())
        if info.key in pods:
            return
        pods.add(info.key)
        queue = self.tenancy.queue_for(info.queue, info.namespace)
        if queue == NO_QUEUE:
            return
        old = self.admitted.get(wkey)
        request = info.quota if old is None else Resources(_sum([old.request, info.quota]))
        workload = Workload(wkey, queue, request, info.request.priority, info.created, pods=len(pods))
        self.cycle.tree.forget(wkey)
        if queue in self.cycle.tree:
            self.cycle.tree.assume(workload)
        self.admitted[wkey] = workload

    def _pend(self, info: PodInfo, backoff: bool = False) -> None:
        # Late members of a gang already running are scheduled on their own, under their own key.
        wkey = info.gang if info.gang not in self.holding else f"{info.gang}+{info.name}"
        wkey = self.workload_of.get(info.key, wkey)
        self.workload_of[info.key] = wkey
        pods = self.pending.setdefault(wkey, {})
        pods[info.key] = info
        self._push(wkey, pods, backoff)

    def _unpend(self, key: str) -> None:
        wkey = self.workload_of.get(key)
        if wkey is None or key not in self.pending.get(wkey, {}):
            return
        pods = self.pending[wkey]
        del pods[key]
        if not pods:
            del self.pending[wkey]
            self.queues.delete(wkey)
        else:
            self._push(wkey, pods)

    def _push(self, key: str, pods: dict[str, PodInfo], backoff: bool = False) -> None:
        if not pods or len(pods) < self._needed(key, pods):
            self.queues.delete(key)  # an incomplete gang waits for its members outside the queue
            return
        first = next(iter(pods.values()))
        workload = Workload(
            key=key,
            queue=self.tenancy.queue_for(first.queue, first.namespace),
            request=Resources(_sum([p.quota for p in pods.values()])),
            priority=max(p.request.priority for p in pods.values()),
            created=min(p.created for p in pods.values()),
            pods=len(pods),
        )
        if backoff:
            self.queues.requeue(workload)
        else:
            self.queues.push(workload)
        self.changed = True

    def _needed(self, key: str, pods: dict[str, PodInfo]) -> int:
        if not pods:
            return 1
        first = next(iter(pods.values()))
        return max(1, first.min_available - len(self.holding.get(key, ())))

    def _freed(self) -> None:
        self.queues.notify_capacity_freed()
        self.changed = True


def _sum(vectors: Sequence[Resources]) -> dict[str, int]:
    out: dict[str, int] = {}
    for vector in vectors:
        for name, amount in vector.items():
            out[name] = out.get(name, 0) + amount
    return out
