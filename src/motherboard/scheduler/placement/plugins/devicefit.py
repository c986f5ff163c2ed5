"""Device fit: vendor, model (GPU-type constraints), sharing mode and free devices.

Writes the ``(nodes, slots)`` mask of usable devices into the cycle state, so that device-aware scorers
do not recompute it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.devices import eligible_devices, partition_key, usable_devices
from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.state import ClusterState
from motherboard.scheduler.cache.types import DeviceKind, DeviceRequest, PodRequest
from motherboard.scheduler.placement.framework import (
    KEY_USABLE_DEVICES,
    CycleState,
    FilterPlugin,
    Mask,
    NodeLocalFilter,
    Nodes,
    PluginContext,
    Rejection,
)

CACHE_LIMIT = 512
"""Request shapes whose usable-device masks are kept between cycles (pods come in a few shapes)."""


@dataclass
class _Usable:
    static: Mask
    mask: Mask
    count: NDArray[np.int64]
    stamp: NDArray[np.int64]


class DeviceFit:
    """Rejects nodes whose devices cannot serve the pod's device request now.

    The usable-device mask of each request shape is kept between cycles and only the rows of nodes whose
    version stamp changed are recomputed, so a cycle costs one comparison over the nodes plus the few
    nodes that changed; callers get copies, never the kept arrays.
    """

    name = "device-fit"

    def __init__(self) -> None:
        self._static: tuple[Mask, Mask, tuple[Mask, Mask]] | None = None
        self._names: tuple[str, ...] | None = None
        self._usable: dict[tuple[object, ...], _Usable] = {}

    def _usable_now(self, s: ClusterState, req: DeviceRequest, static: Mask) -> _Usable:
        if self._names is not s.names or len(self._usable) > CACHE_LIMIT:
            self._names, self._usable = s.names, {}
        key = (req.kind, req.milli, req.memory_mib, req.models, req.vendor, req.resource)
        entry = self._usable.get(key)
        if entry is None or entry.static is not static:
            mask = usable_devices(s, req, static)
            entry = _Usable(static, mask, mask.sum(axis=1), s.version.copy())
            self._usable[key] = entry
            return entry
        stale = np.flatnonzero(entry.stamp != s.version)
        if len(stale):
            rows = usable_devices(s, req, static[stale], stale)
            entry.mask[stale] = rows
            entry.count[stale] = rows.sum(axis=1)
            entry.stamp[stale] = s.version[stale]
        return entry

    def _static_verdicts(self, static: Mask, shareable: Mask) -> tuple[Mask, Mask]:
        # Model and sharing verdicts change only with the node set: keep the last one (pods come in runs).
        cached = self._static
        if cached is None or cached[0] is not static or cached[1] is not shareable:
            verdict = (np.asarray(~static.any(axis=1)), np.asarray(~(static & shareable).any(axis=1)))
            cached = self._static = (static, shareable, verdict)
        return cached[2]

    def filter_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        d = pod.devices
        if d is None:
            return ()
        return (d.kind, d.count, d.milli, d.memory_mib, d.profile, d.models, d.vendor, d.resource)

    def feasible_rows(self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes) -> Mask | None:
        """Whether each of ``rows`` passes: the same verdict as :meth:`filter`, for these nodes only."""
        req = pod.devices
        if req is None:
            return None
        s = snap.state
        if req.kind is DeviceKind.PARTITION:
            key = partition_key(snap.catalog, req)
            if key < 0:
                return np.zeros(len(rows), dtype=np.bool_)
            static = eligible_devices(s, snap.catalog, req)[rows] & s.dev_mig[rows]
            out: Mask = static.any(axis=1) & (s.part_free_count[rows, key] >= req.count)
            return out
        # A usable device already matches the model, vendor, resource and sharing mode.
        usable = usable_devices(s, req, eligible_devices(s, snap.catalog, req)[rows], rows)
        need = 1 if req.kind is DeviceKind.FRACTION else req.count
        fits: Mask = usable.sum(axis=1) >= need
        return fits

    def filter(self, state: CycleState, pod: PodRequest, snap: Snapshot) -> list[Rejection]:
        req = pod.devices
        if req is None:
            return []
        s = snap.state
        if req.kind is DeviceKind.PARTITION:
            key = partition_key(snap.catalog, req)
            if key < 0:
                return [
                    Rejection(f"no node offers {req.resource} {req.profile}", np.ones(s.size, bool), True)
                ]
            static = eligible_devices(s, snap.catalog, req) & s.dev_mig
            wrong_model = np.asarray(~static.any(axis=1))
            short: Mask = s.part_free_count[:, key] < req.count
            return [
                Rejection("node(s) didn't match accelerator model", wrong_model, True),
                Rejection(f"Insufficient {req.resource} {req.profile}", short),
            ]
        static = eligible_devices(s, snap.catalog, req)
        entry = self._usable_now(s, req, static)
        state.write(KEY_USABLE_DEVICES, entry.mask.copy())
        wrong_model, no_sharing = self._static_verdicts(static, s.dev_shareable)
        if req.kind is DeviceKind.FRACTION:
            short = entry.count == 0
            return [
                Rejection("node(s) didn't match accelerator model", wrong_model, True),
                Rejection("node(s) don't share devices", no_sharing, True),
                Rejection(f"Insufficient {req.resource}", short),
            ]
        short = entry.count < req.count
        return [
            Rejection("node(s) didn't match accelerator model", wrong_model, True),
            Rejection(f"Insufficient {req.resource}", short),
        ]


def make(args: Mapping[str, Any], ctx: PluginContext) -> DeviceFit:
    return DeviceFit()


_: FilterPlugin = DeviceFit()
_k: NodeLocalFilter = DeviceFit()
