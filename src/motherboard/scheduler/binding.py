"""Read a written device assignment back into a placement: how a restarted scheduler re-charges pods.

The scheduler writes ``motherboard.io/device-assignment`` on every pod in the same call that binds it (the
Binding's annotations), so after a restart (or on a new leader) every bound pod is charged to exactly the
devices it was given; a gang member that an older scheduler annotated but did not bind can be bound to
exactly the devices its gang planned. Pure: ids are looked up in the cache's state, no client involved.
"""

from __future__ import annotations

from motherboard.api.assignment import DeviceAssignment
from motherboard.scheduler.cache.devices import default_picks
from motherboard.scheduler.cache.state import Catalog, ClusterState
from motherboard.scheduler.cache.types import DeviceKind, DevicePick, Placement, PodRequest


class StaleAssignment(LookupError):
    """The assignment names a node or device the cluster no longer has."""


def placement_from_assignment(
    state: ClusterState, pod: PodRequest, assignment: DeviceAssignment | None, node: str
) -> Placement:
    """The placement of ``pod`` on ``node`` with the devices ``assignment`` names (none: CPU and memory only).

    Raises :class:`StaleAssignment` when the node or a device id is unknown, or the assignment was written
    for another node.
    """
    try:
        row = state.names.index(node)
    except ValueError:
        raise StaleAssignment(f"node {node} is not in the cache") from None
    if assignment is None or not assignment.containers:
        return Placement(pod, row, node, ())
    if assignment.node != node:
        raise StaleAssignment(f"assignment names node {assignment.node}, pod is on {node}")
    ids = state.dev_ids[row]
    fraction = pod.devices is not None and pod.devices.kind is DeviceKind.FRACTION
    picks: list[DevicePick] = []
    for container in assignment.containers:
        for dev in container.devices:
            if dev.parent is not None:  # a MIG slice or vNPU: find its partition row
                picks.append(_partition_pick(state, row, dev.id, dev.parent, ids))
                continue
            if dev.id not in ids:
                raise StaleAssignment(f"device {dev.id} is not on {node}")
            d = ids.index(dev.id)
            memory = (dev.memory_mib or 0) if fraction else int(state.dev_mem_cap[row, d])
            picks.append(DevicePick(d, dev.milli, memory))
    return Placement(pod, row, node, tuple(picks))


def _partition_pick(
    state: ClusterState, row: int, part_id: str, parent: str, ids: tuple[str, ...]
) -> DevicePick:
    parts = state.partitions
    try:
        index = parts.ids.index(part_id)
    except ValueError:
        raise StaleAssignment(f"partition {part_id} is not in the cache") from None
    if int(parts.node[index]) != row or parent not in ids:
        raise StaleAssignment(f"partition {part_id} is not on {state.names[row]}")
    return DevicePick(int(parts.device[index]), int(parts.milli[index]), int(parts.memory_mib[index]), index)


def fallback_placement(
    state: ClusterState, catalog: Catalog, pod: PodRequest, node: str, *, devices: bool = True
) -> Placement:
    """A pod bound without an assignment we can read (another scheduler's): count its devices on the
    lowest-index free ones, as the kubelet would hand them out; CPU and memory only if none are free."""
    row = state.names.index(node)
    picks = default_picks(state, catalog, row, pod.devices) if devices and pod.devices is not None else None
    return Placement(pod, row, node, picks or ())
