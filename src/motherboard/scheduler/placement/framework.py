"""The placement framework: one small Protocol per extension point, and the per-cycle state they share.

Filters and scores are vectorised: a filter answers for every node of the snapshot at once (a rejection
mask per reason), a score for every feasible node at once. A plugin implements only the points it needs;
the framework finds them by ``isinstance`` against these runtime-checkable Protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.devices import eligible_devices, usable_devices
from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import DevicePick, PodRequest
from motherboard.scheduler.placement.status import Status

Mask = NDArray[np.bool_]
Nodes = NDArray[np.intp]
Scores = NDArray[np.float64]

KEY_USABLE_DEVICES = "devices/usable"
"""CycleState key: ``(nodes, slots)`` mask of devices that can take the pod now (written by device fit)."""
KEY_GANG_PLACED = "gang/placed"
"""CycleState key: node indices of gang members already placed in this transaction."""
KEY_GANG_BANNED = "gang/banned-nodes"
"""CycleState key: nodes whose domain a retried gang must avoid (where its failed attempt started)."""


@dataclass(frozen=True)
class Rejection:
    """Nodes a filter rejects, all for one reason (e.g. ``Insufficient nvidia.com/gpu``)."""

    reason: str
    nodes: Mask
    unresolvable: bool = False


@dataclass
class CycleState:
    """Data plugins share within one pod's cycle (or one gang's, for the gang keys)."""

    data: dict[str, Any] = field(default_factory=dict)

    def read(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def write(self, key: str, value: Any) -> None:
        self.data[key] = value


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: PodRequest, snap: Snapshot) -> Status: ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodRequest, snap: Snapshot) -> list[Rejection]: ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores: ...


@runtime_checkable
class NodeLocalFilter(Protocol):
    """A filter whose verdicts may be kept between cycles (see :class:`NodeLocalScore`).

    ``filter_key`` returns a hashable key when, for this pod in this cycle, whether a node passes depends
    only on the pod's fields the key captures and on that node's row of the snapshot; ``None`` otherwise.
    ``feasible_rows`` answers for some nodes only: ``True`` where the node passes (``None``: all pass).
    When every filter of a profile gives a key, the placer keeps the feasible set per key and asks again
    only about nodes whose version changed; the full :meth:`FilterPlugin.filter` still runs to explain a
    pod that fits nowhere.
    """

    def filter_key(self, state: CycleState, pod: PodRequest) -> Hashable | None: ...

    def feasible_rows(
        self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes
    ) -> Mask | None: ...


class NodeListMemo:
    """Rejections of a node-fact filter (labels, taints) per pod key, kept while the node list is the same.

    The snapshot's ``names`` tuple is rebuilt whenever a node is added, removed or changed, so its identity
    says whether a kept answer is still true. At most ``limit`` keys are kept (then all are dropped).
    """

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._kept: dict[Hashable, tuple[tuple[str, ...], list[Rejection]]] = {}

    def get(
        self, key: Hashable, names: tuple[str, ...], compute: Callable[[], list[Rejection]]
    ) -> list[Rejection]:
        hit = self._kept.get(key)
        if hit is not None and hit[0] is names:
            return hit[1]
        if len(self._kept) > self._limit:
            self._kept.clear()
        rejections = compute()
        self._kept[key] = (names, rejections)
        return rejections


def rows_passing(rejections: list[Rejection], rows: Nodes) -> Mask | None:
    """:meth:`NodeLocalFilter.feasible_rows` from a filter's rejections: ``None`` when none rejects."""
    if not rejections:
        return None
    ok = np.ones(len(rows), dtype=np.bool_)
    for rejection in rejections:
        ok &= ~rejection.nodes[rows]
    return ok


@runtime_checkable
class NodeLocalScore(Protocol):
    """A scorer that can say when its scores may be kept between cycles.

    ``score_key`` returns a hashable key when, for this pod in this cycle, the score of every node depends
    only on the pod's fields the key captures and on that node's row of the snapshot (so it changes only
    when the node's version stamp does); ``None`` when it depends on more (gang members placed so far,
    randomness). When every scorer of a profile returns a key, the placer keeps the weighted total per
    key and rescores only the nodes whose version changed since.
    """

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None: ...


def shape_key(pod: PodRequest) -> tuple[object, ...]:
    """The fields a node-local resource scorer reads: the pod's resource shape and device resource name."""
    return (pod.task_class(), None if pod.devices is None else pod.devices.resource)


def usable_rows(state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes) -> Mask:
    """``(len(rows), slots)``: which devices of ``rows`` can take one unit of the pod's request now.

    Device fit's mask from the cycle state when it wrote one; otherwise computed for these rows only (the
    placer's kept-verdict path does not run the full filters).
    """
    usable = state.read(KEY_USABLE_DEVICES)
    if usable is not None:
        out: Mask = usable[rows]
        return out
    s = snap.state
    if pod.devices is None:
        return np.zeros((len(rows), s.dev_milli_free.shape[1]), dtype=np.bool_)
    static = eligible_devices(s, snap.catalog, pod.devices)[rows]
    return usable_devices(s, pod.devices, static, rows)


@runtime_checkable
class DeviceSelectPlugin(Plugin, Protocol):
    """Chooses the exact devices on the chosen node (the scorer that ranked nodes by a device choice)."""

    def select_devices(
        self, state: CycleState, pod: PodRequest, snap: Snapshot, node: int
    ) -> tuple[DevicePick, ...] | None: ...


@dataclass(frozen=True)
class PluginContext:
    """What a plugin factory may use: the run's seed and the recent workload (for popularity weights)."""

    seed: int = 0
    workload: tuple[PodRequest, ...] = ()
