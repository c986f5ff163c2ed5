"""After a restart or a failover: undo the gangs a previous scheduler left half bound.

A scheduler that dies between binding the first and the last member of a gang leaves some members bound
and the rest pending. Each member's device assignment travels in its Binding (see :mod:`.binder`), so a
pending member carries no plan: the new leader deletes the bound members (their owner recreates them)
and the gang is scheduled again, so no half gang keeps devices.

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
    """Binds that complete half-bound gangs, and bound pods to delete where a gang cannot complete."""
    world.apply_node_changes()  # the assignments name nodes the cache must already hold
    bound: dict[str, list[PodInfo]] = defaultdict(list)
    waiting: dict[str, list[PodInfo]] = defaultdict(list)
    for info in world.pods.values():
        if not info.ours or info.gang == info.key:
            continue
        (bound if info.node else waiting)[info.gang].append(info)
    binds, undo = [], []
    for gang, members in bound.items():
        need = members[0].min_available
        if len(members) >= need:
            continue  # complete: late members are scheduled as usual
        rest = sorted(waiting.get(gang, []), key=lambda i: i.key)
        bind = _complete(world, gang, rest, need - len(members))
        if bind is None:
            log.warning(
                "gang %s is half bound (%d of %d) and cannot complete; deleting it", gang, len(members), need
            )
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
