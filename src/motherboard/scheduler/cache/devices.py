"""Device arithmetic on the state arrays: which devices suit a request, default picks, and accounting.

Every allocation and release goes through :func:`apply`, so the invariants (free compute in 0..1000, free
device memory in 0..capacity, a partition given out at most once) are enforced in one place.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from motherboard.api.accelerators import resolve_model
from motherboard.scheduler.cache.state import Bool, Catalog, ClusterState, partition_key_name
from motherboard.scheduler.cache.types import (
    WHOLE_MILLI,
    DeviceKind,
    DevicePick,
    DeviceRequest,
    Placement,
    PodRequest,
)

_ALL = slice(None)
_STAMP = itertools.count(1)
"""Version stamps are unique across the cache and every transaction copy, so a per-class score cache keyed
on them can never mistake one node state for another."""


class AccountingError(RuntimeError):
    """An allocation that would break an invariant: a bug in the caller, never a scheduling verdict."""


def _lookup(table: list[str], values: tuple[str, ...]) -> list[int]:
    return [i for i in (Catalog.find(table, v) for v in values) if i >= 0]


def _model_ids(table: list[str], values: tuple[str, ...]) -> list[int]:
    # A model may be named by an unambiguous alias (``H100`` for ``H100-80GB``): the webhook accepts it by
    # the same rule, so a job it let in is not then refused here for a name.
    names = [v if v in table else (resolve_model(v, table) or v) for v in values]
    return _lookup(table, tuple(names))


def eligible_devices(state: ClusterState, catalog: Catalog, req: DeviceRequest) -> Bool:
    """``(nodes, slots)`` mask of devices whose model, vendor and resource suit ``req`` (ignoring load).

    Depends only on the static arrays, which snapshots share, so it is computed once per request shape.
    """
    key = (req.models, req.vendor, req.resource, req.kind is DeviceKind.PARTITION, len(catalog.models))
    hit = _ELIGIBLE.get(key)
    if hit is not None and hit[0] is state.dev_model:
        return hit[1]
    if len(_ELIGIBLE) > 512:
        _ELIGIBLE.clear()
    mask = _eligible(state, catalog, req)
    mask.flags.writeable = False
    _ELIGIBLE[key] = (state.dev_model, mask)
    return mask


_ELIGIBLE: dict[tuple[object, ...], tuple[np.ndarray, Bool]] = {}


def _eligible(state: ClusterState, catalog: Catalog, req: DeviceRequest) -> Bool:
    ok = state.dev_model >= 0
    if req.models:
        ok = ok & np.isin(state.dev_model, _model_ids(catalog.models, req.models))
    if req.vendor is not None:
        ok = ok & (state.dev_vendor == Catalog.find(catalog.vendors, req.vendor.value))
    if req.kind is not DeviceKind.PARTITION:
        base = req.resource.removesuffix(".shared")
        ok = ok & np.isin(state.dev_resource, _lookup(catalog.resources, (base, req.resource)))
    return ok


def usable_devices(
    state: ClusterState, req: DeviceRequest, static: Bool, rows: slice | NDArray[np.intp] = _ALL
) -> Bool:
    """``(nodes, slots)`` mask of devices (of the nodes in ``rows``) that can take one unit of ``req`` now.

    ``static`` is :func:`eligible_devices` for the same rows.
    """
    milli = state.dev_milli_free[rows]
    out: Bool
    if req.kind is DeviceKind.WHOLE:
        out = static & ~state.dev_mig[rows] & (milli == WHOLE_MILLI)
    elif req.kind is DeviceKind.FRACTION:
        out = static & state.dev_shareable[rows] & (milli >= req.milli)
        if req.memory_mib:
            out = out & (state.dev_mem_free[rows] >= req.memory_mib)
    else:
        out = static & state.dev_mig[rows]
    return out


def partition_key(catalog: Catalog, req: DeviceRequest) -> int:
    """Catalogue index of the partition kind ``req`` names; -1 when no node offers it."""
    return Catalog.find(catalog.partition_keys, partition_key_name(req.resource, req.profile or ""))


def default_picks(
    state: ClusterState, catalog: Catalog, node: int, req: DeviceRequest
) -> tuple[DevicePick, ...] | None:
    """Best-fit device choice on one node: lowest-index free devices; the fullest device for a share."""
    if req.kind is DeviceKind.PARTITION:
        return partition_picks(state, catalog, node, req)
    eligible = eligible_devices(state, catalog, req)
    if req.kind is DeviceKind.WHOLE:
        # One node's few devices: plain Python (usable_devices' rule for whole devices).
        free = state.dev_milli_free[node].tolist()
        mig = state.dev_mig[node].tolist()
        ok = eligible[node].tolist()
        whole = [
            j
            for j, (e, m, f) in enumerate(zip(ok, mig, free, strict=True))
            if e and not m and f == WHOLE_MILLI
        ]
        if len(whole) < req.count:
            return None
        chosen = _prefer_one_domain(state, node, whole, req.count)
        cap = state.dev_mem_cap[node].tolist()
        return tuple(DevicePick(d, WHOLE_MILLI, cap[d]) for d in chosen)
    rows = slice(node, node + 1)
    usable = usable_devices(state, req, eligible[rows], rows)[0]
    slots = np.flatnonzero(usable)
    if len(slots) == 0:
        return None
    best = int(slots[np.argmin(state.dev_milli_free[node, slots])])  # first minimum: lowest index
    return (DevicePick(best, req.milli, req.memory_mib),)


def partition_picks(
    state: ClusterState, catalog: Catalog, node: int, req: DeviceRequest
) -> tuple[DevicePick, ...] | None:
    """The lowest-index free partitions of the requested profile on ``node``."""
    key = partition_key(catalog, req)
    parts = state.partitions
    rows = np.flatnonzero((parts.node == node) & (parts.key == key) & parts.free)[: req.count]
    if len(rows) < req.count:
        return None
    return tuple(
        DevicePick(int(parts.device[r]), int(parts.milli[r]), int(parts.memory_mib[r]), int(r)) for r in rows
    )


def _prefer_one_domain(state: ClusterState, node: int, slots: list[int], count: int) -> list[int]:
    # Multi-GPU pods run faster inside one NVLink domain: take the first domain that has enough free devices.
    if count == 1:
        return slots[:1]
    domain = state.dev_domain[node].tolist()
    for dom in dict.fromkeys(domain[d] for d in slots):
        inside = [d for d in slots if domain[d] == dom]
        if len(inside) >= count:
            return inside[:count]
    return slots[:count]


def apply(state: ClusterState, placement: Placement, sign: int) -> None:
    """Allocate (``sign=+1``) or release (``-1``) a placement; raises :class:`AccountingError` on misuse."""
    n, pod = placement.node, placement.pod
    state.cpu_free[n] -= sign * pod.cpu_milli
    state.mem_free[n] -= sign * pod.memory_mib
    state.pods_free[n] -= sign
    for pick in placement.picks:
        if pick.partition >= 0:
            _apply_partition(state, n, pick.partition, sign)
            continue
        state.dev_milli_free[n, pick.device] -= sign * pick.milli
        if pod.devices is not None and pod.devices.kind is DeviceKind.FRACTION:
            state.dev_mem_free[n, pick.device] -= sign * pick.memory_mib
        else:
            state.dev_mem_free[n, pick.device] -= sign * int(state.dev_mem_cap[n, pick.device])
        milli = state.dev_milli_free[n, pick.device]
        mem = state.dev_mem_free[n, pick.device]
        if not (0 <= milli <= WHOLE_MILLI and 0 <= mem <= state.dev_mem_cap[n, pick.device]):
            raise AccountingError(f"device {pick.device} of {state.names[n]} over-committed by {pod.name}")
    state.version[n] = next(_STAMP)
    if sign > 0 and (state.cpu_free[n] < 0 or state.mem_free[n] < 0 or state.pods_free[n] < 0):
        raise AccountingError(f"{state.names[n]} over-committed on CPU, memory or pods by {pod.name}")


def _apply_partition(state: ClusterState, node: int, row: int, sign: int) -> None:
    parts = state.partitions
    if bool(parts.free[row]) != (sign > 0):
        verb = "allocated twice" if sign > 0 else "released while free"
        raise AccountingError(f"partition {parts.ids[row]} {verb}")
    parts.free[row] = sign < 0
    state.part_free_count[node, parts.key[row]] -= sign


def request_summary(pod: PodRequest) -> str:
    """Short human form of a pod's request, for reasons and logs."""
    d = pod.devices
    dev = "" if d is None else f", {d.count}x{d.profile or d.milli} {d.resource}"
    return f"{pod.name} (cpu {pod.cpu_milli}m, mem {pod.memory_mib}Mi{dev})"
