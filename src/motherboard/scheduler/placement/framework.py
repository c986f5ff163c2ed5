"""The placement framework: one small Protocol per extension point, and the per-cycle state they share.

Filters and scores are vectorised: a filter answers for every node of the snapshot at once (a rejection
mask per reason), a score for every feasible node at once. A plugin implements only the points it needs;
the framework finds them by ``isinstance`` against these runtime-checkable Protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

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
