"""ClusterCache: the scheduler's live view of nodes and pods, with assume/forget.

Writes go through the cache (assume a placement before binding, forget it when binding fails or the pod
ends); reads go through a :class:`Snapshot` taken once per cycle. The Kubernetes adapter feeds the cache
from watches; the simulator feeds it from trace events. Neither changes how the core reads it.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable

from motherboard.scheduler.cache.devices import apply
from motherboard.scheduler.cache.snapshot import Snapshot, default_rank
from motherboard.scheduler.cache.state import I64, UNSHARED_REFS, Catalog, ClusterState, build_state
from motherboard.scheduler.cache.types import NodeSpec, Placement


class UnknownPodError(KeyError):
    """The cache holds no placement for the named pod."""


class ClusterCache:
    """Nodes, their device inventories, and the pods placed on them (assumed or bound)."""

    def __init__(self, nodes: Iterable[NodeSpec] = (), *, tie_rank: I64 | None = None) -> None:
        self.catalog = Catalog()
        self._nodes: dict[str, NodeSpec] = {n.name: n for n in nodes}
        self._placements: dict[str, Placement] = {}
        self._bound: set[str] = set()
        self._tie_rank = tie_rank
        self._generation = 0
        self._snapshot: weakref.ref[Snapshot] | None = None
        self._view: ClusterState | None = None
        self._view_of: ClusterState | None = None
        self._state = self._rebuild()

    # --- nodes ------------------------------------------------------------------------------------------
    def upsert_node(self, node: NodeSpec) -> list[Placement]:
        """Add or replace a node; returns placements that no longer fit it (they are forgotten)."""
        self._nodes[node.name] = node
        return self._reload()

    def remove_node(self, name: str) -> list[Placement]:
        """Remove a node; returns the placements it held (they are forgotten)."""
        self._nodes.pop(name, None)
        return self._reload()

    @property
    def node_names(self) -> tuple[str, ...]:
        return self._state.names

    # --- pods -------------------------------------------------------------------------------------------
    def assume(self, placement: Placement) -> None:
        """Charge a placement before binding, so the next cycle sees it."""
        if placement.pod.name in self._placements:
            raise ValueError(f"pod {placement.pod.name} is already placed")
        self._before_write()
        apply(self._state, placement, +1)
        self._placements[placement.pod.name] = placement
        self._touch()

    def confirm(self, pod: str) -> None:
        """Binding succeeded: the placement is now a fact, not an assumption."""
        if pod not in self._placements:
            raise UnknownPodError(pod)
        self._bound.add(pod)

    def forget(self, pod: str) -> Placement:
        """Release a placement (binding failed, or the pod ended or was evicted)."""
        placement = self._placements.pop(pod, None)
        if placement is None:
            raise UnknownPodError(pod)
        self._bound.discard(pod)
        self._before_write()
        apply(self._state, placement, -1)
        self._touch()
        return placement

    def placement(self, pod: str) -> Placement | None:
        return self._placements.get(pod)

    def placements(self) -> list[Placement]:
        return list(self._placements.values())

    def is_bound(self, pod: str) -> bool:
        return pod in self._bound

    # --- views ------------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """An immutable view for one scheduling cycle (reused while nothing changed).

        Copy on write: the snapshot reads the live arrays through read-only views, and the cache copies
        its arrays before the next write only if some snapshot (or a slice of one) is still referenced.
        A loop that takes a snapshot, places, assumes and drops it therefore copies nothing.
        """
        snap = self._snapshot() if self._snapshot is not None else None
        if snap is None or snap.generation != self._generation:
            if self._view is None or self._view_of is not self._state:
                self._view, self._view_of = self._state.view(), self._state
            rank = self._tie_rank if self._tie_rank is not None else default_rank(self._state.size)
            snap = Snapshot(self._view, self.catalog, rank, self._generation)
            self._snapshot = weakref.ref(snap)
        return snap

    @property
    def live_state(self) -> ClusterState:
        """The live arrays, read-only by contract: for metrics between cycles, never for placement."""
        return self._state

    @property
    def generation(self) -> int:
        """Counts changes; a transaction commits only onto the generation it started from."""
        return self._generation

    def set_tie_rank(self, rank: I64) -> None:
        self._tie_rank = rank
        self._touch()

    # --- internals --------------------------------------------------------------------------------------
    def _before_write(self) -> None:
        # Copy on write: the read-only view is kept across cycles (views of the same arrays) until, at a
        # write, a snapshot still holds it (or a slice of its arrays is alive); then the arrays are copied.
        state = self._state
        if self._view is not None and self._view_of is state:
            # Held by the attribute and the argument only, unless a snapshot still holds it.
            if sys.getrefcount(self._view) > UNSHARED_REFS or state.shared(self._view):
                state.detach()
                self._view = None
        elif state.shared():
            state.detach()

    def _touch(self) -> None:
        self._generation += 1

    def _rebuild(self) -> ClusterState:
        return build_state(list(self._nodes.values()), self.catalog)

    def _reload(self) -> list[Placement]:
        # Node changes are rare next to pod changes: rebuild the arrays, then re-charge every placement.
        self._state = self._rebuild()
        names = {name: i for i, name in enumerate(self._state.names)}
        dropped = []
        for name, old in list(self._placements.items()):
            idx = names.get(old.node_name)
            moved = None if idx is None else Placement(old.pod, idx, old.node_name, old.picks)
            try:
                if moved is None:
                    raise LookupError(old.node_name)
                apply(self._state, moved, +1)
                self._placements[name] = moved
            except (LookupError, ArithmeticError, RuntimeError):
                if moved is not None:
                    self._state = self._recharge(exclude=name)
                del self._placements[name]
                self._bound.discard(name)
                dropped.append(old)
        self._touch()
        return dropped

    def _recharge(self, exclude: str) -> ClusterState:
        state = self._rebuild()
        for name, p in self._placements.items():
            if name != exclude and p.node_name in state.names:
                apply(state, p, +1)
        return state
