"""The common shape of the scorers that judge a GPU share by the GPU it lands on (shared by plugins, which
may not import each other).

A share of ``m`` milli on a GPU with ``f`` free changes some per-GPU quantity by ``change(f, m)`` (expected
eventual waste for ``waste-gradient``, loss against the best packing for ``share-pairing``). A node scores
the best (lowest) change over its GPUs that can take the share, negated, and the device selector takes
that GPU, the fullest among equals (best fit), then the lowest index. Whole-GPU pods and pods without
GPUs score 0: the other scorers decide for them.

Scores depend only on the share's shape and the node's row, so each node's best change is kept per shape
and recomputed only for the nodes whose version stamp moved since.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import DeviceKind, DevicePick, PodRequest
from motherboard.scheduler.placement.framework import CycleState, Nodes, Scores, shape_key, usable_rows

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
KEPT_SHAPES = 512
"""Share shapes whose per-node best change is kept (then all are dropped)."""


class ShareGapScorer(ABC):
    """Base class: subclasses say how a share changes one GPU (:meth:`change`, :meth:`change_one`)."""

    def __init__(self) -> None:
        self._names: tuple[str, ...] | None = None
        self._best: dict[tuple[object, ...], tuple[F64, I64]] = {}

    @abstractmethod
    def change(self, free: I64, milli: int) -> F64:
        """The change for each GPU in ``free`` (``(k, slots)`` free milli) receiving ``milli``."""

    @abstractmethod
    def change_one(self, free: int, milli: int) -> float:
        """:meth:`change` of one GPU in plain Python, with the same float arithmetic."""

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        req = pod.devices
        if req is None or req.kind is not DeviceKind.FRACTION:
            return np.zeros(len(nodes))
        out: Scores = -self._best_change(state, pod, snap, nodes)
        return out

    def select_devices(
        self, state: CycleState, pod: PodRequest, snap: Snapshot, node: int
    ) -> tuple[DevicePick, ...] | None:
        req = pod.devices
        if req is None or req.kind is not DeviceKind.FRACTION:
            return None
        # One node: plain Python over its few GPUs.
        usable = usable_rows(state, pod, snap, np.array([node]))[0].tolist()
        free = snap.state.dev_milli_free[node].tolist()
        changes = [
            (self.change_one(f, req.milli), j)
            for j, (f, ok) in enumerate(zip(free, usable, strict=True))
            if ok
        ]
        if not changes:
            return None
        low = min(c for c, _ in changes) + 1e-9
        gpu = min((free[j], j) for c, j in changes if c <= low)[1]
        return (DevicePick(gpu, req.milli, req.memory_mib),)

    def _best_change(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> F64:
        """Each of ``nodes``' best change, recomputing only nodes changed since this shape last looked."""
        req = pod.devices
        assert req is not None
        s = snap.state
        if self._names is not s.names or len(self._best) > KEPT_SHAPES:
            self._names, self._best = s.names, {}
        key = (req.milli, req.memory_mib, req.models, req.vendor, req.resource)
        entry = self._best.get(key)
        if entry is None:
            entry = (np.zeros(s.size), np.full(s.size, -1, dtype=np.int64))
            self._best[key] = entry
        best, stamp = entry
        stale = nodes[stamp[nodes] != s.version[nodes]]
        if len(stale):
            change = self.change(s.dev_milli_free[stale], req.milli)
            change = np.where(usable_rows(state, pod, snap, stale), change, np.inf).min(axis=1)
            best[stale] = np.where(np.isfinite(change), change, 0.0)
            stamp[stale] = s.version[stale]
        out: F64 = best[nodes]
        return out
