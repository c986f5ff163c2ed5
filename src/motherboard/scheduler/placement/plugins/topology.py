"""Gang topology: keep a gang on one node, NVLink domain, rack or site; required filters, preferred scores."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import PodRequest, TopologyLevel
from motherboard.scheduler.placement.framework import (
    KEY_GANG_BANNED,
    KEY_GANG_PLACED,
    CycleState,
    FilterPlugin,
    Mask,
    NodeLocalFilter,
    Nodes,
    PluginContext,
    Rejection,
    ScorePlugin,
    Scores,
    rows_passing,
)


def domain_of(snap: Snapshot, level: TopologyLevel) -> NDArray[np.int64]:
    """Each node's domain id at ``level`` (-1: node not labelled for it; then only itself counts)."""
    s = snap.state
    if level is TopologyLevel.NODE:
        return np.arange(s.size, dtype=np.int64)
    labels = {TopologyLevel.NVLINK: s.nvlink, TopologyLevel.RACK: s.rack, TopologyLevel.SITE: s.site}[level]
    # Unlabelled nodes form singleton domains, so a required rule never joins two unlabelled nodes.
    return np.where(labels >= 0, labels, -2 - np.arange(s.size)).astype(np.int64)


class Topology:
    """Filters (required) or scores (preferred) nodes by the domain of the gang members placed so far."""

    name = "topology"

    def filter_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        # Only a required rule with gang members placed (or a retry) rejects anything.
        rule = pod.topology
        if rule is None or not rule.required:
            return ()
        return None if state.read(KEY_GANG_PLACED) or state.read(KEY_GANG_BANNED) else ()

    def feasible_rows(self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes) -> Mask | None:
        ok = rows_passing(self.filter(state, pod, snap), rows)
        return None if ok is None or ok.all() else ok

    def filter(self, state: CycleState, pod: PodRequest, snap: Snapshot) -> list[Rejection]:
        rule = pod.topology
        placed: list[int] = state.read(KEY_GANG_PLACED) or []
        banned: list[int] = state.read(KEY_GANG_BANNED) or []
        if rule is None or not rule.required:
            return []
        dom = domain_of(snap, rule.level)
        if placed:
            return [Rejection(f"{rule.level.value} differs from the gang's", dom != dom[placed[0]])]
        if banned:
            return [Rejection("gang retried elsewhere", np.isin(dom, dom[banned]))]
        return []

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        # Without gang members placed so far every node scores 0; with them it depends on the gang.
        return () if pod.topology is None or not state.read(KEY_GANG_PLACED) else None

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        rule = pod.topology
        placed: list[int] = state.read(KEY_GANG_PLACED) or []
        if rule is None or not placed:
            return np.zeros(len(nodes))
        dom = domain_of(snap, rule.level)
        return np.where(np.isin(dom[nodes], dom[placed]), 100.0, 0.0)


def make(args: Mapping[str, Any], ctx: PluginContext) -> Topology:
    return Topology()


_f: FilterPlugin = Topology()
_k: NodeLocalFilter = Topology()
_s: ScorePlugin = Topology()
