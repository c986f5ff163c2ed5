"""Device fit: vendor, model (GPU-type constraints), sharing mode and free devices.

Writes the ``(nodes, slots)`` mask of usable devices into the cycle state, so that device-aware scorers
do not recompute it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from motherboard.scheduler.cache.devices import eligible_devices, partition_key, usable_devices
from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import DeviceKind, PodRequest
from motherboard.scheduler.placement.framework import (
    KEY_USABLE_DEVICES,
    CycleState,
    FilterPlugin,
    Mask,
    PluginContext,
    Rejection,
)


class DeviceFit:
    """Rejects nodes whose devices cannot serve the pod's device request now."""

    name = "device-fit"

    def __init__(self) -> None:
        self._static: tuple[Mask, Mask, tuple[Mask, Mask]] | None = None

    def _static_verdicts(self, static: Mask, shareable: Mask) -> tuple[Mask, Mask]:
        # Model and sharing verdicts change only with the node set: keep the last one (pods come in runs).
        cached = self._static
        if cached is None or cached[0] is not static or cached[1] is not shareable:
            verdict = (np.asarray(~static.any(axis=1)), np.asarray(~(static & shareable).any(axis=1)))
            cached = self._static = (static, shareable, verdict)
        return cached[2]

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
        usable = usable_devices(s, req, static)
        state.write(KEY_USABLE_DEVICES, usable)
        wrong_model, no_sharing = self._static_verdicts(static, s.dev_shareable)
        if req.kind is DeviceKind.FRACTION:
            short = np.asarray(~usable.any(axis=1))
            return [
                Rejection("node(s) didn't match accelerator model", wrong_model, True),
                Rejection("node(s) don't share devices", no_sharing, True),
                Rejection(f"Insufficient {req.resource}", short),
            ]
        short = np.asarray(usable.sum(axis=1) < req.count)
        return [
            Rejection("node(s) didn't match accelerator model", wrong_model, True),
            Rejection(f"Insufficient {req.resource}", short),
        ]


def make(args: Mapping[str, Any], ctx: PluginContext) -> DeviceFit:
    return DeviceFit()


_: FilterPlugin = DeviceFit()
