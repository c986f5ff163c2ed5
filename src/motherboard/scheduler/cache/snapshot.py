"""The immutable per-cycle view of the cluster that filters and scores read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motherboard.scheduler.cache.state import I64, Catalog, ClusterState


@dataclass(frozen=True)
class Snapshot:
    """A frozen copy of the state arrays, the catalogue, and the node order used to break score ties.

    ``tie_rank[n]`` is node ``n``'s position in the tie-breaking order: among equally scored nodes the one
    with the lowest rank wins. The Kubernetes scheduler uses node order; the published simulator a seeded
    random order of node names, which the trace simulator reproduces by passing a permutation.
    """

    state: ClusterState
    catalog: Catalog
    tie_rank: I64
    generation: int

    @property
    def size(self) -> int:
        return self.state.size

    def node_index(self, name: str) -> int:
        """Row of the node called ``name``; ``KeyError`` when unknown."""
        return self.state.names.index(name)


def default_rank(size: int) -> I64:
    """Node order as listed: the tie-break when nobody asks for another."""
    return np.arange(size, dtype=np.int64)
