"""Nodes as the watches feed them: heartbeats dropped unparsed, changes applied to the cache in bulk.

:meth:`ClusterCache.upsert_node` rebuilds every array per node (node changes are rare next to pod
changes), so the initial list of 500 nodes cost 500 rebuilds — O(nodes²), about 6 s of CPU at start-up
on the benchmark machine. :class:`NodeWatch` collects node changes and :class:`WatchCache` applies them
at once, before the next cycle or the next bound pod that needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from motherboard.scheduler.cache import ClusterCache, NodeSpec, Placement
from motherboard.scheduler.service.objects import node_spec

Obj = dict[str, Any]


class WatchCache(ClusterCache):
    """A :class:`ClusterCache` that also takes many node changes at once."""

    def apply_nodes(self, changes: Mapping[str, NodeSpec | None]) -> list[Placement]:
        """Add, replace (a spec) or remove (``None``) nodes; returns the placements that no longer fit."""
        for name, spec in changes.items():
            if spec is None:
                self._nodes.pop(name, None)
            else:
                self._nodes[name] = spec
        return self._reload()


class NodeWatch:
    """The nodes the scheduler knows (``specs``, read by the taint and affinity filters at once) and the
    changes not yet applied to the cache."""

    def __init__(self) -> None:
        self.specs: dict[str, NodeSpec] = {}
        self._seen: dict[str, tuple[object, ...]] = {}
        self._changes: dict[str, NodeSpec | None] = {}

    @property
    def dirty(self) -> bool:
        return bool(self._changes)

    def on_node(self, obj: Obj, deleted: bool = False) -> bool:
        """Record a watch event; ``True`` when it changed something the scheduler reads."""
        meta = obj["metadata"]
        name = meta["name"]
        if deleted:
            self._seen.pop(name, None)
            self.specs.pop(name, None)
            self._changes[name] = None
            return True
        # What node_spec reads, by reference: equal to the last event's (a heartbeat), nothing to parse.
        seen = (meta.get("labels"), meta.get("annotations"), obj.get("spec"),
                (obj.get("status") or {}).get("allocatable"))  # fmt: skip
        if self._seen.get(name) == seen:
            return False
        self._seen[name] = seen
        spec = node_spec(obj)
        old = self.specs.get(name)
        if old is not None and old == spec and old.labels == spec.labels:
            return False
        self.specs[name] = spec
        self._changes[name] = spec
        return True

    def apply(self, cache: WatchCache) -> list[Placement]:
        """Apply the collected changes (one rebuild); returns the placements that no longer fit."""
        changes, self._changes = self._changes, {}
        return cache.apply_nodes(changes) if changes else []
