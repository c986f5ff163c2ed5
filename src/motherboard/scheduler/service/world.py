"""Everything the scheduler knows, fed by watch events, and the cycle that runs over it.

One asyncio thread owns it: watch handlers, the cycle and the binding callbacks all run on the event
loop, so nothing here locks. Pods are sorted into three sets:

* **pending** — ours (``schedulerName: motherboard-scheduler``), unbound, grouped by workload (a gang);
  a workload is queued once it has ``min-available`` members (minus members already bound);
* **in flight** — assumed by a cycle, being bound; watch updates leave them alone;
* **bound** — charged in the cache at the devices of their assignment annotation (anyone's pods: other
  schedulers' pods use CPU, memory and devices too), and, for ours, in the quota tree under their workload
  (:class:`~.holding.Holdings`).

Watch events are cheap when they change nothing the scheduler reads: most pod events are status-only
(the kubelet's phase and conditions, our own ``PodScheduled`` explanations) and are dropped before the
pod is parsed; node heartbeats likewise. Node changes are collected and applied in bulk before the next
cycle (:mod:`.nodecache`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from motherboard.api.assignment import AssignmentError, DeviceAssignment
from motherboard.api.constants import ANNOTATION_DEVICE_ASSIGNMENT
from motherboard.scheduler.admission import Resources, Workload
from motherboard.scheduler.binding import StaleAssignment, fallback_placement, placement_from_assignment
from motherboard.scheduler.cache import AccountingError, NodeSpec, PodRequest
from motherboard.scheduler.cycle import Cycle, Evict
from motherboard.scheduler.placement import Placer, PluginContext, Profile
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.queueing import Backoff, QueueManager
from motherboard.scheduler.service.holding import Holdings, total
from motherboard.scheduler.service.nodecache import NodeWatch, WatchCache
from motherboard.scheduler.service.objects import PodInfo, pod_info
from motherboard.scheduler.service.recent import RecentWorkload
from motherboard.scheduler.service.tenancy import Tenancy

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Seen = tuple[object, ...]
"""What the scheduler reads of a watched object, by reference (compared, never parsed)."""


class World:
    """Watch state + core state; implements the cycle's :class:`~motherboard.scheduler.cycle.Gangs`."""

    def __init__(self, profile: Profile, backoff: Backoff | None = None) -> None:
        self.node_watch = NodeWatch()
        self.nodes: dict[str, NodeSpec] = self.node_watch.specs
        self.cache = WatchCache()
        self.tenancy = Tenancy()
        self.queues = QueueManager(backoff=backoff or Backoff(base=0.5, cap=30.0))
        self.pods: dict[str, PodInfo] = {}
        self.pending: dict[str, dict[str, PodInfo]] = {}
        """Workload key → its pending pods."""
        self.workload_of: dict[str, str] = {}
        """Pending or in-flight pod → workload key."""
        self.in_flight: set[str] = set()
        self.victims: set[str] = set()
        """Pods being evicted: no longer charged in the cache (a preemptor holds their devices)."""
        self.uncharged: dict[str, PodInfo] = {}
        """Bound pods whose node is not in the cache yet."""
        self.finished: dict[str, PodInfo] = {}
        """Gang members of ours that ran and ended but still exist: recovery counts them as bound (a member
        of a half-bound gang that ran alone and finished left the rest waiting for a whole gang forever)."""
        self.quarantined: dict[str, set[str]] = {}
        """Gang → members being deleted by recovery: its pending members wait until they are gone, then are
        grouped afresh (queued before, they were admitted next to the half gang's charge, or never)."""
        self._quarantine_of: dict[str, str] = {}
        self.changed = False
        """Set when something may let a waiting workload run; the loop wakes on it."""
        self._seen_pods: dict[str, Seen] = {}
        self.profile = profile
        self.recent = RecentWorkload()
        """Shapes of the pods seen lately: the workload the placement plugins weigh (rebuilt as it moves)."""
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="placer-build")
        self.placer_update: Future[Placer] | None = None
        """A placer being rebuilt from the recent workload; swapped in by the first cycle after it is done."""
        self.cycle = Cycle(
            self.queues, self.tenancy.tree(), self.cache, self._placer(()), self, refresh=self.before_cycle
        )
        self.holds = Holdings(self.tenancy, self.cycle)

    @property
    def admitted(self) -> dict[str, Workload]:
        return self.holds.admitted

    # --- Gangs protocol -----------------------------------------------------------------------------------
    def members(self, key: str) -> Sequence[PodRequest]:
        pods = self.pending.get(key, {})
        if len(pods) < self._needed(key, pods):
            return ()
        if len(pods) == 1:
            return [next(iter(pods.values())).request]
        return [p.request for p in sorted(pods.values(), key=lambda p: p.key)]

    def pods_of(self, key: str) -> Sequence[str]:
        return self.holds.pods_of(key)

    def any_alive(self, pods: Sequence[str]) -> bool:
        return any(p in self.pods for p in pods)

    # --- nodes ---------------------------------------------------------------------------------------------
    def on_node(self, obj: Obj, deleted: bool = False) -> None:
        if self.node_watch.on_node(obj, deleted):
            self.changed = True

    def before_cycle(self) -> None:
        """The cycle's first step: node changes into the cache, and the placer swapped for one rebuilt from
        the recent workload when that is ready.

        The rebuild (an LP solve of up to a second) runs on a worker thread, so the event loop keeps serving
        watches and bindings meanwhile; the cycle uses the old placer until the new one is built.
        """
        self.apply_node_changes()
        self.tenancy.report()  # queue problems as the tree stands now, not per event of the initial list
        update = self.placer_update
        if update is not None and update.done():
            self.placer_update = None
            try:
                self.cycle.placer = update.result()
                log.info("placement plugins rebuilt from the last %d pods' shapes",
                         len(self.cycle.placer.context.workload))  # fmt: skip
            except Exception:  # a bad profile argument: keep placing with the placer we have
                log.exception("rebuilding the placement plugins failed; keeping the previous ones")
        if self.placer_update is None and self.recent.due():
            self.placer_update = self._builder.submit(self._placer, self.recent.take())

    def _placer(self, workload: tuple[PodRequest, ...]) -> Placer:
        # The registry reads the node table when it filters, not now: building on a thread is safe.
        return Placer(self.profile, default_registry(self.nodes), PluginContext(workload=workload))

    def apply_node_changes(self) -> None:
        """Apply the collected node changes to the cache at once (one rebuild, not one per node)."""
        if not self.node_watch.dirty:
            return
        for placement in self.node_watch.apply(self.cache):
            log.warning("pod %s no longer fits node %s after a node change", placement.pod.name,
                        placement.node_name)  # fmt: skip
        for info in list(self.uncharged.values()):
            if info.node in self.nodes:
                del self.uncharged[info.key]
                self._charge(info)
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
        self.holds.recharge()
        for key, pods in list(self.pending.items()):  # a pod's queue may come from its namespace's Queue
            self._push(key, pods)
        self._freed()

    # --- pods ------------------------------------------------------------------------------------------------
    def on_pod(self, obj: Obj, deleted: bool = False) -> None:
        meta = obj["metadata"]
        key = f"{meta.get('namespace', 'default')}/{meta['name']}"
        if deleted:
            self.finished.pop(key, None)
            self.drop_pod(key)
            return
        seen, last = _seen_pod(obj), self._seen_pods.get(key)
        if last == seen:
            return  # status-only: the kubelet's phase and conditions, our own explanations
        self._seen_pods[key] = seen
        old = self.pods.get(key)
        if old is not None and last is not None and old.node is None and _just_bound(last, seen):
            assignment = old.assignment
            if last[2] != seen[2]:  # the Binding wrote the device assignment: read only that
                assignment = _assignment(seen[2])
            info = replace(old, node=obj["spec"]["nodeName"], done=bool(seen[5]), disrupted=bool(seen[6]),
                           assignment=assignment)  # fmt: skip
        else:
            info = pod_info(obj)
            if old is None and info.ours:
                self.recent.add(info.request)
        if info.done:
            # A deleted pod that has not stopped yet still holds its node's CPU, memory and devices: the
            # kubelet counts it until its containers are gone, and admits nothing into that room before
            # (a pod placed there fails with OutOfcpu). Its quota is released at once; its room on the
            # node when the deletion completes (or it reaches a final phase), as kube-scheduler does.
            phase = (obj.get("status") or {}).get("phase")
            terminating = info.node is not None and phase not in ("Succeeded", "Failed")
            reassigned = info.key in self.victims  # a victim's devices already belong to its preemptor
            self.drop_pod(info.key, keep_room=terminating)
            if terminating and not reassigned and self.cache.placement(info.key) is None:
                self._charge(info, quota=False)  # seen first while terminating (a restart, a relist)
            if (
                info.ours
                and info.node is not None
                and info.gang != info.key
                and not meta.get("deletionTimestamp")
            ):
                self.finished[info.key] = info
            return
        self.pods[info.key] = info
        if info.node is not None:
            self._unpend(info.key)
            if info.key not in self.victims:  # a victim's devices already belong to its preemptor
                self._charge(info)
        # A late event from before the binding (the annotation's, say) after our bind call returned: the
        # pod is bound and charged in the cache, not pending again.
        elif (
            info.ours and info.key not in self.in_flight and not info.disrupted and not self._placed(info.key)
        ):
            self._pend(info)

    def drop_pod(self, key: str, *, keep_room: bool = False) -> None:
        """The pod finished or was deleted: release what it held (``keep_room``: all but its place on the
        node, which a pod still terminating holds until it is gone)."""
        self._seen_pods.pop(key, None)
        self.pods.pop(key, None)
        self.uncharged.pop(key, None)
        self.victims.discard(key)
        self._unpend(key)
        self.in_flight.discard(key)
        if not keep_room and self.cache.placement(key) is not None:
            self.cache.forget(key)
            self._freed()
        if self.holds.release(key):
            self._freed()
        self.workload_of.pop(key, None)
        gang = self._quarantine_of.pop(key, None)
        if gang is not None:
            waiting = self.quarantined.get(gang, set())
            waiting.discard(key)
            if not waiting:
                self._release(gang)

    # --- recovery -----------------------------------------------------------------------------------------------
    def quarantine(self, gang: str, members: Sequence[str]) -> None:
        """Recovery deletes ``members`` of a half-bound ``gang``: hold its pending pods back until they are
        gone (the deletions are seen), then group every pending member of the gang afresh."""
        waiting = {key for key in members if key in self.pods or key in self.finished}
        if not waiting:
            return
        self.quarantined[gang] = waiting
        for key in waiting:
            self._quarantine_of[key] = gang
        for info in self._pending_of(gang):
            self._unpend(info.key)
            self.workload_of.pop(info.key, None)

    def _release(self, gang: str) -> None:
        del self.quarantined[gang]
        for info in self._pending_of(gang, everywhere=True):
            self.workload_of.pop(info.key, None)
            self._pend(info)

    def _pending_of(self, gang: str, everywhere: bool = False) -> list[PodInfo]:
        """Unbound pods of ours of ``gang`` (``everywhere``: also those not in a pending set, e.g. held back)."""
        if not everywhere:
            return [i for pods in self.pending.values() for i in pods.values() if i.gang == gang]
        return [
            i
            for i in self.pods.values()
            if i.gang == gang
            and i.ours
            and i.node is None
            and i.key not in self.in_flight
            and not i.disrupted
        ]

    # --- binding outcomes (called by the binder) ----------------------------------------------------------------
    def start_binding(self, workload: Workload, pods: Sequence[str]) -> None:
        """A cycle assumed these pods: they hold the workload's quota until they end or binding fails."""
        for key in pods:
            self._unpend(key)
            self.in_flight.add(key)
            self.workload_of[key] = workload.key
        self.holds.start(workload, pods)
        left = self.pending.get(workload.key)
        if left:  # a partially admitted elastic gang: the rest join as late members when quota frees
            self._push(workload.key, left)

    def bound(self, key: str) -> None:
        self.in_flight.discard(key)
        if self.cache.placement(key) is not None and not self.cache.is_bound(key):
            self.cache.confirm(key)

    def binding_failed(self, key: str) -> None:
        """Forget the pod's assumption and put it back in its queue, if it still exists unbound.

        A call that failed without an answer (a timeout) may have bound the pod all the same: if the watch
        already showed it bound, it stays charged where it is; if it shows it later, :meth:`on_pod` charges
        it then (from the assignment its Binding wrote), once."""
        self.in_flight.discard(key)
        info = self.pods.get(key)
        if info is not None and info.node is not None:
            if self.cache.placement(key) is not None and not self.cache.is_bound(key):
                self.cache.forget(key)  # charge what the server recorded, not what this call assumed
            self._charge(info)
            return
        if self.cache.placement(key) is not None and not self.cache.is_bound(key):
            self.cache.forget(key)
        self.holds.release(key)
        if info is not None and info.ours:
            self._pend(info, backoff=True)
        self._freed()

    def start_preemption(self, action: Evict) -> None:
        """The cycle released the victims' quota and devices; they leave the admitted set until they go."""
        self.holds.start_preemption(action.victims)
        self.victims.update(action.victim_pods)

    def preemption_failed(self, action: Evict) -> None:
        """An eviction was refused: drop the preemptor's reservation and charge the victims again."""
        self.cycle.cancel_reservation(action.preemptor.key)
        self.holds.restore(action.victims)
        for key in action.victim_pods:
            self.victims.discard(key)
            info = self.pods.get(key)
            if info is not None and info.node is not None:
                self._charge(info)
        self._freed()

    # --- internals -------------------------------------------------------------------------------------------
    def _charge(self, info: PodInfo, *, quota: bool = True) -> None:
        if self.cache.placement(info.key) is not None:
            if info.key not in self.in_flight and not self.cache.is_bound(info.key):
                self.cache.confirm(info.key)
            return
        assert info.node is not None
        if info.node not in self.nodes:
            self.uncharged[info.key] = info
            return
        self.apply_node_changes()  # the pod's node may have come with the changes not applied yet
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
        if info.ours and quota:
            self.holds.hold_bound(info, self.workload_of.get(info.key, info.gang))

    def _pend(self, info: PodInfo, backoff: bool = False) -> None:
        if info.gang in self.quarantined:
            return  # released (and grouped afresh) once the half gang's deleted members are gone
        # Late members of a gang already running are scheduled on their own, under their own key.
        wkey = info.gang if info.gang not in self.holds else f"{info.gang}+{info.name}"
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
        if pods and key in self.holds:
            # Pods pending under a workload that already holds pods (seen pending before its bound members in
            # a relist, which lists in any order): queueing it would admit it twice (``ValueError: workload
            # ... is already admitted`` in the tree). They are late members, each a workload of its own.
            self.queues.delete(key)
            del self.pending[key]
            for info in list(pods.values()):
                self.workload_of.pop(info.key, None)
                self._pend(info, backoff)
            return
        if not pods or len(pods) < self._needed(key, pods):
            self.queues.delete(key)  # an incomplete gang waits for its members outside the queue
            return
        first = next(iter(pods.values()))
        needed = self._needed(key, pods)
        elastic = len(pods) > needed
        workload = Workload(
            key=key,
            queue=self.tenancy.queue_for(first.queue, first.namespace),
            request=first.quota if len(pods) == 1 else Resources(total(p.quota for p in pods.values())),
            priority=max(p.request.priority for p in pods.values()),
            created=min(p.created for p in pods.values()),
            pods=len(pods),
            # An elastic gang (min-available below its size) may start with fewer pods: each pod's request,
            # in the order members() hands the pods to placement, lets admission cut it down.
            min_pods=needed if elastic else 0,
            pod_requests=tuple(p.quota for p in sorted(pods.values(), key=lambda p: p.key))
            if elastic
            else (),
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
        if key != first.gang:
            return 1  # a late member of a running gang, a workload of its own
        return max(1, first.min_available - self.holds.count(key))

    def _placed(self, key: str) -> bool:
        return self.cache.placement(key) is not None

    def _freed(self) -> None:
        self.queues.notify_capacity_freed()
        self.changed = True


def _seen_pod(obj: Obj) -> Seen:
    # Everything pod_info reads, by reference: spec, labels, annotations, and from the status only whether
    # it finished and the DisruptionTarget condition. Equal to the last event's: nothing changed for us.
    meta, status = obj["metadata"], obj.get("status") or {}
    done = status.get("phase") in ("Succeeded", "Failed") or meta.get("deletionTimestamp") is not None
    disrupted = any(
        c.get("type") == "DisruptionTarget" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    return (obj.get("spec"), meta.get("labels"), meta.get("annotations"), meta.get("deletionTimestamp"),
            meta.get("uid"), done, disrupted)  # fmt: skip


def _just_bound(last: Seen, seen: Seen) -> bool:
    """Only ``spec.nodeName`` was set since ``last``, and perhaps the device assignment annotation (the
    binding, which carries it): the pod need not be parsed again."""
    if last[1] != seen[1] or last[3:5] != seen[3:5]:
        return False
    if last[2] != seen[2] and _without_assignment(last[2]) != _without_assignment(seen[2]):
        return False
    before, after = last[0], seen[0]
    if not isinstance(before, dict) or not isinstance(after, dict) or before.get("nodeName"):
        return False
    if not after.get("nodeName") or len(after) != len(before) + ("nodeName" not in before):
        return False
    return all(k == "nodeName" or before.get(k, _MISSING) == v for k, v in after.items())


_MISSING = object()


def _without_assignment(annotations: object) -> object:
    if not isinstance(annotations, dict) or ANNOTATION_DEVICE_ASSIGNMENT not in annotations:
        return annotations or None
    rest = {k: v for k, v in annotations.items() if k != ANNOTATION_DEVICE_ASSIGNMENT}
    return rest or None


def _assignment(annotations: object) -> DeviceAssignment | None:
    try:
        return DeviceAssignment.from_pod_annotations(annotations if isinstance(annotations, dict) else None)
    except AssignmentError:
        return None
