"""The placement cycle of one pod, and of one gang inside a transaction.

The framework runs the plugins a :class:`Profile` names; it knows them only through the registry and the
extension-point Protocols, never by import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from motherboard.api.assignment import DeviceAssignment
from motherboard.scheduler.cache.assignment import device_assignment
from motherboard.scheduler.cache.cache import ClusterCache
from motherboard.scheduler.cache.devices import default_picks
from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.transaction import Transaction
from motherboard.scheduler.cache.types import DevicePick, Placement, PodRequest
from motherboard.scheduler.placement.framework import (
    KEY_GANG_BANNED,
    KEY_GANG_PLACED,
    CycleState,
    DeviceSelectPlugin,
    FilterPlugin,
    PluginContext,
    PreFilterPlugin,
    ScorePlugin,
)
from motherboard.scheduler.placement.profile import Profile
from motherboard.scheduler.placement.registry import Registry
from motherboard.scheduler.placement.status import Code, Diagnosis, Status

GANG_ATTEMPTS = 4
"""How many first nodes a gang with a required topology tries before it gives up this cycle."""


@dataclass(frozen=True)
class Outcome:
    """The result for one pod: a placement, or a status saying why not."""

    status: Status
    placement: Placement | None = None

    @property
    def ok(self) -> bool:
        return self.placement is not None

    def assignment(self, snap: Snapshot) -> DeviceAssignment:
        """The device-assignment annotation for the placed pod."""
        if self.placement is None:
            raise ValueError("no placement")
        return device_assignment(snap.state, self.placement)


@dataclass(frozen=True)
class GangOutcome:
    """All pods of a gang placed, or none (``placements`` empty) with the reason."""

    status: Status
    placements: tuple[Placement, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status.ok


class Placer:
    """Runs one profile's plugins."""

    def __init__(self, profile: Profile, registry: Registry, ctx: PluginContext | None = None) -> None:
        ctx = ctx or PluginContext()
        self.profile = profile
        made: dict[str, object] = {}

        def plugin(name: str) -> object:
            if name not in made:
                made[name] = registry.create(name, profile.plugin_args.get(name, {}), ctx)
            return made[name]

        self._pre: list[PreFilterPlugin] = [
            _expect(plugin(n), PreFilterPlugin, n, "preFilter") for n in profile.pre_filter
        ]
        self._filters: list[FilterPlugin] = [
            _expect(plugin(n), FilterPlugin, n, "filter") for n in profile.filter
        ]
        self._scores: list[tuple[ScorePlugin, float]] = [
            (_expect(plugin(e.name), ScorePlugin, e.name, "score"), e.weight) for e in profile.score
        ]
        self._select: DeviceSelectPlugin | None = (
            _expect(plugin(profile.device_select), DeviceSelectPlugin, profile.device_select, "deviceSelect")
            if profile.device_select
            else None
        )

    def place(self, pod: PodRequest, snap: Snapshot, cycle: CycleState | None = None) -> Outcome:
        """Choose a node and devices for ``pod`` on ``snap``; the snapshot is not changed."""
        cycle = cycle or CycleState()
        # 1. Pre-filter: pod-level checks that need no node.
        for pre in self._pre:
            status = pre.pre_filter(cycle, pod, snap)
            if not status.ok:
                return Outcome(status)
        # 2. Filter: every node at once; each rejected node is counted under its first reason.
        feasible, diagnosis = self._filter(cycle, pod, snap)
        nodes = np.flatnonzero(feasible)
        if len(nodes) == 0:
            return Outcome(diagnosis.status())
        # 3. Score the feasible nodes; weights come from the profile.
        total = np.zeros(len(nodes), dtype=np.float64)
        for scorer, weight in self._scores:
            total += weight * scorer.score(cycle, pod, snap, nodes)
        # 4. Select the best node; ties go to the lowest tie rank (node order, or the simulator's seeded order).
        top = nodes[total == total.max()]
        node = int(top[np.argmin(snap.tie_rank[top])]) if len(top) > 1 else int(top[0])
        # 5. Choose the exact devices on it.
        picks = self._picks(cycle, pod, snap, node)
        if picks is None:
            return Outcome(
                Status(Code.ERROR, (f"no devices on {snap.state.names[node]} after it passed filters",))
            )
        return Outcome(Status.success(), Placement(pod, node, snap.state.names[node], picks))

    def place_gang(self, pods: Sequence[PodRequest], txn: Transaction) -> GangOutcome:
        """Place every pod of a gang inside ``txn``; on failure nothing stays allocated in it."""
        banned: list[int] = []
        last = Status.success()
        for _ in range(GANG_ATTEMPTS):
            placed: list[Placement] = []
            for pod in pods:
                cycle = CycleState({KEY_GANG_PLACED: [p.node for p in placed], KEY_GANG_BANNED: banned})
                out = self.place(pod, txn.view(), cycle)
                if out.placement is None:
                    last = Status(out.status.code, (f"pod {pod.name}: {out.status.message}",), "gang")
                    break
                txn.allocate(out.placement)
                placed.append(out.placement)
            else:
                return GangOutcome(Status.success(), tuple(placed))
            _undo(txn, placed)
            # Only a required topology can make a different first node help; otherwise stop here.
            if not placed or not any(p.topology and p.topology.required for p in pods):
                break
            banned.append(placed[0].node)
        return GangOutcome(last)

    def schedule_gang(self, pods: Sequence[PodRequest], cache: ClusterCache) -> GangOutcome:
        """:meth:`place_gang` in a fresh transaction, committed on success and discarded otherwise."""
        txn = Transaction(cache)
        outcome = self.place_gang(pods, txn)
        if outcome.ok:
            txn.commit()
        else:
            txn.discard()
        return outcome

    def _filter(self, cycle: CycleState, pod: PodRequest, snap: Snapshot) -> tuple[np.ndarray, Diagnosis]:
        rejections = [r for flt in self._filters for r in flt.filter(cycle, pod, snap)]
        if rejections:
            rejected = np.logical_or.reduce([r.nodes for r in rejections])
            feasible = snap.state.schedulable & ~rejected
        else:
            feasible = snap.state.schedulable.copy()
        diagnosis = Diagnosis(snap.size)
        if feasible.any():
            return feasible, diagnosis  # the reasons are only worth counting when nothing fits
        # Count each node under its first reason, as kube-scheduler's summary does.
        open_nodes = snap.state.schedulable.copy()
        if (~open_nodes).any():
            diagnosis.counts["node(s) were unschedulable"] += int((~open_nodes).sum())
        for rejection in rejections:
            newly = rejection.nodes & open_nodes
            count = int(newly.sum())
            if count:
                diagnosis.counts[rejection.reason] += count
                diagnosis.unresolvable &= rejection.unresolvable
                open_nodes &= ~rejection.nodes
        return feasible, diagnosis

    def _picks(
        self, cycle: CycleState, pod: PodRequest, snap: Snapshot, node: int
    ) -> tuple[DevicePick, ...] | None:
        if pod.devices is None:
            return ()
        if self._select is not None:
            picks = self._select.select_devices(cycle, pod, snap, node)
            if picks is not None:
                return picks
        return default_picks(snap.state, snap.catalog, node, pod.devices)


def _undo(txn: Transaction, placed: list[Placement]) -> None:
    # A failed attempt must leave no trace in the transaction; re-open a clean one on the same base.
    if placed:
        txn.rollback(len(placed))


def _expect(obj: object, proto: Any, name: str, point: str) -> Any:
    if not isinstance(obj, proto):
        raise TypeError(f"plugin {name!r} cannot run at the {point} extension point")
    return obj
