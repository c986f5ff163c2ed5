"""The placement cycle of one pod, and of one gang inside a transaction.

The framework runs the plugins a :class:`Profile` names; it knows them only through the registry and the
extension-point Protocols, never by import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

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
    Mask,
    NodeLocalFilter,
    NodeLocalScore,
    PluginContext,
    PreFilterPlugin,
    Rejection,
    ScorePlugin,
    Scores,
)
from motherboard.scheduler.placement.profile import Profile
from motherboard.scheduler.placement.registry import Registry
from motherboard.scheduler.placement.status import Code, Diagnosis, Status

GANG_ATTEMPTS = 4
"""How many first nodes a gang with a required topology tries before it gives up this cycle."""
KEPT_LIMIT = 512
"""Pod classes (filter and scorer keys) whose node verdicts and totals the placer keeps between cycles."""


class Outcome:
    """The result for one pod: a placement, or a status saying why not.

    The status may be given as a function that works it out when first read: explaining why nothing fits
    (every filter over every node, counted per reason) costs more than finding that out, and a simulator
    that only counts failures never reads it.
    """

    __slots__ = ("_explain", "_status", "placement")

    def __init__(self, status: Status | Callable[[], Status], placement: Placement | None = None) -> None:
        self.placement = placement
        self._status: Status | None = status if isinstance(status, Status) else None
        self._explain: Callable[[], Status] | None = None if isinstance(status, Status) else status

    @property
    def status(self) -> Status:
        if self._status is None:
            assert self._explain is not None
            self._status, self._explain = self._explain(), None
        return self._status

    @property
    def ok(self) -> bool:
        return self.placement is not None

    def assignment(self, snap: Snapshot) -> DeviceAssignment:
        """The device-assignment annotation for the placed pod."""
        if self.placement is None:
            raise ValueError("no placement")
        return device_assignment(snap.state, self.placement)

    def __repr__(self) -> str:
        return f"Outcome(status={self.status!r}, placement={self.placement!r})"


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
        self.context = ctx
        """What the plugins were built from (the seed and the workload they weigh)."""
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
        filters: list[NodeLocalFilter] = [f for f in self._filters if isinstance(f, NodeLocalFilter)]
        scores: list[NodeLocalScore] = [s for s, _ in self._scores if isinstance(s, NodeLocalScore)]
        self._keyed_filters: list[NodeLocalFilter] | None = (
            filters if len(filters) == len(self._filters) else None
        )
        self._keyed_scores: list[NodeLocalScore] | None = scores if len(scores) == len(self._scores) else None
        self._kept_names: tuple[str, ...] | None = None
        self._kept_totals: dict[tuple[object, ...], tuple[Scores, Mask, NDArray[np.int64]]] = {}
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
        # 2.-3. Filter and score. A pod whose filters and scores depend only on its shape and each node's
        # row reuses the verdicts and totals kept for its class, refreshed for the nodes changed since.
        kept = self._kept(cycle, pod, snap)
        best = kept[0].max() if kept is not None else -np.inf
        if kept is not None and best > -np.inf:
            top = np.flatnonzero(kept[0] == best)
        elif kept is not None and not kept[1].any() and not snap.state.cpu_free.flags.writeable:
            # Nothing fits. A cache snapshot never changes, so the reasons can be counted when asked for
            # (a transaction's view changes as it allocates: that one is explained at once, below).
            return Outcome(lambda: self._explain(cycle, pod, snap))
        else:
            # Every node at once; each rejected node is counted under its first reason.
            feasible, rejections = self._filter(cycle, pod, snap)
            if feasible is None:
                return Outcome(self._diagnose(rejections, snap).status())
            nodes = np.flatnonzero(feasible)
            total = np.zeros(len(nodes), dtype=np.float64)
            for scorer, weight in self._scores:
                total += weight * scorer.score(cycle, pod, snap, nodes)
            top = nodes[total == total.max()]
        # 4. Select the best node; ties go to the lowest tie rank (node order, or the simulator's seeded order).
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

    def _filter(
        self, cycle: CycleState, pod: PodRequest, snap: Snapshot
    ) -> tuple[Mask | None, list[Rejection]]:
        """The feasible-node mask (``None`` when no node fits) and every filter's rejections."""
        rejections = [r for flt in self._filters for r in flt.filter(cycle, pod, snap)]
        schedulable = snap.state.schedulable
        if not rejections:
            return (schedulable.copy() if schedulable.any() else None), rejections
        rejected = rejections[0].nodes | ~schedulable
        for rejection in rejections[1:]:
            rejected |= rejection.nodes
        feasible = np.logical_not(rejected, out=rejected)
        return (feasible if feasible.any() else None), rejections

    def _explain(self, cycle: CycleState, pod: PodRequest, snap: Snapshot) -> Status:
        rejections = [r for flt in self._filters for r in flt.filter(cycle, pod, snap)]
        return self._diagnose(rejections, snap).status()

    @staticmethod
    def _diagnose(rejections: list[Rejection], snap: Snapshot) -> Diagnosis:
        # Count each node under its first reason, as kube-scheduler's summary does.
        diagnosis = Diagnosis(snap.size)
        unschedulable = ~snap.state.schedulable
        stack = np.array([unschedulable, *(r.nodes for r in rejections)], dtype=np.bool_)
        rejected = stack.any(axis=0)
        counts = np.bincount(stack.argmax(axis=0)[rejected], minlength=len(stack)).tolist()
        if counts[0]:
            diagnosis.counts["node(s) were unschedulable"] += counts[0]
        for rejection, count in zip(rejections, counts[1:], strict=True):
            if count:
                diagnosis.counts[rejection.reason] += count
                diagnosis.unresolvable &= rejection.unresolvable
        return diagnosis

    def _kept(self, cycle: CycleState, pod: PodRequest, snap: Snapshot) -> tuple[Scores, Mask] | None:
        """Every node's weighted score (``-inf`` where it fails a filter) and whether it passes the filters,
        kept between cycles per class.

        ``None`` when a filter or scorer says this pod's answers depend on more than its shape and each
        node's row (a gang's members placed so far, randomness). Otherwise only the nodes whose version
        stamp changed since the class last looked are filtered and scored again (stamps are unique across
        the cache and every transaction copy), so after the first pod of a class a cycle works on the one
        or two nodes the last placements changed. The answers are the full path's, node for node.
        """
        if self._keyed_filters is None or self._keyed_scores is None:
            return None
        if KEY_GANG_PLACED in cycle.data or KEY_GANG_BANNED in cycle.data:
            return None
        filter_keys = tuple(f.filter_key(cycle, pod) for f in self._keyed_filters)
        score_keys = tuple(f.score_key(cycle, pod) for f in self._keyed_scores)
        if None in filter_keys or None in score_keys:
            return None
        s = snap.state
        if self._kept_names is not s.names or len(self._kept_totals) > KEPT_LIMIT:
            self._kept_names, self._kept_totals = s.names, {}
        key = (filter_keys, score_keys)
        entry = self._kept_totals.get(key)
        if entry is None:
            entry = self._kept_totals[key] = (
                np.zeros(s.size),
                np.zeros(s.size, dtype=np.bool_),
                np.full(s.size, -1, dtype=np.int64),
            )
        total, feasible, stamp = entry
        stale = np.flatnonzero(stamp != s.version)
        if len(stale):
            ok = s.schedulable[stale]
            for flt in self._keyed_filters:
                passed = flt.feasible_rows(cycle, pod, snap, stale)
                if passed is not None:
                    ok &= passed
            feasible[stale] = ok
            rows = stale[ok]
            total[stale] = -np.inf
            if len(rows):
                fresh = np.zeros(len(rows), dtype=np.float64)
                for scorer, weight in self._scores:
                    fresh += weight * scorer.score(cycle, pod, snap, rows)
                total[rows] = fresh
            stamp[stale] = s.version[stale]
        return total, feasible

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
