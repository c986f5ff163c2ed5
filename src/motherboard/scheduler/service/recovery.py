"""After a restart or a failover: undo the gangs a previous scheduler left half bound.

A scheduler that dies between binding the first and the last member of a gang leaves some members bound
and the rest pending. Each member's device assignment travels in its Binding (see :mod:`.binder`), so a
pending member carries no plan: the new leader deletes the bound members (their owner recreates them)
and the gang is scheduled again, so no half gang keeps devices.

Deterministic, whatever the timing: a member that already ran alone and finished counts as bound (it is
deleted too, so the gang runs again as a whole; otherwise the rest waited forever for a gang that could
never be whole); the deletions bypass the client's rate limit (:mod:`.api`); and the gang's pending
members are held back until the deleted ones are gone, then grouped afresh (:meth:`.World.quarantine`),
so they are neither admitted beside the half gang's quota charge nor scheduled one by one.

Pods annotated by an older scheduler, which wrote every member's assignment *before* binding any, still
name the node and devices their gang was planned with: if those devices are still free, the new leader
binds the pending members exactly there (the gang completes as planned), else it deletes the bound ones.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from motherboard.scheduler.admission import Workload
from motherboard.scheduler.binding import StaleAssignment, placement_from_assignment
from motherboard.scheduler.cache import AccountingError, Placement
from motherboard.scheduler.cycle import Bind
from motherboard.scheduler.service.objects import PodInfo
from motherboard.scheduler.service.world import World

log = logging.getLogger(__name__)


def recover(world: World) -> tuple[list[Bind], list[PodInfo]]:
    """Binds that complete half-bound gangs, and bound (or finished) pods to delete where a gang cannot."""
    world.apply_node_changes()  # the assignments name nodes the cache must already hold
    bound: dict[str, list[PodInfo]] = defaultdict(list)
    waiting: dict[str, list[PodInfo]] = defaultdict(list)
    for info in world.pods.values():
        if not info.ours or info.gang == info.key:
            continue
        (bound if info.node else waiting)[info.gang].append(info)
    for info in world.finished.values():
        bound[info.gang].append(info)
    binds, undo = [], []
    for gang, members in sorted(bound.items()):
        need = members[0].min_available
        if len(members) >= need:
            continue  # complete: late members are scheduled as usual
        ran = [m.key for m in members if m.key in world.finished]
        rest = sorted(waiting.get(gang, []), key=lambda i: i.key)
        bind = None if ran else _complete(world, gang, rest, need - len(members))
        if bind is None:
            log.warning(
                "gang %s is half bound (%d of %d%s) and cannot complete; deleting its bound members",
                gang,
                len(members),
                need,
                f", {len(ran)} already ran alone" if ran else "",
            )
            world.quarantine(gang, [m.key for m in members])
            undo.extend(members)
        else:
            log.info("completing half-bound gang %s with %d pods", gang, len(bind.placements))
            binds.append(bind)
    return binds, undo


def _complete(world: World, gang: str, rest: list[PodInfo], missing: int) -> Bind | None:
    assigned = [i for i in rest if i.assignment is not None]
    if len(assigned) < missing:
        return None
    placements: list[Placement] = []
    try:
        for info in assigned:
            assert info.assignment is not None
            placement = placement_from_assignment(
                world.cache.live_state, info.request, info.assignment, info.assignment.node
            )
            world.cache.assume(placement)
            placements.append(placement)
    except (StaleAssignment, AccountingError, ValueError) as exc:
        log.info("gang %s cannot complete as planned: %s", gang, exc)
        for placement in placements:
            world.cache.forget(placement.pod.name)
        return None
    first = assigned[0]
    queue = world.tenancy.queue_for(first.queue, first.namespace)
    workload = world.admitted.get(gang) or Workload(gang, queue, first.quota, first.request.priority)
    return Bind(workload, tuple(placements), tuple(i.assignment for i in assigned if i.assignment))
