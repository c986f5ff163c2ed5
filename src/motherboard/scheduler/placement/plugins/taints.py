"""Taints and tolerations: a pod goes only to nodes whose blocking taints it tolerates.

The node arrays of a snapshot carry no taints (they are rare, string-valued and irrelevant to packing), so
the plugin reads them from ``nodes``, a name → :class:`NodeSpec` mapping the Kubernetes adapter keeps. The
simulator passes none, and then the plugin admits every node. Masks are cached per node list and toleration
set: every member of a gang, and every pod of one template, shares them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import BLOCKING_EFFECTS, NodeSpec, PodRequest, Taint, Toleration
from motherboard.scheduler.placement.framework import (
    CycleState,
    FilterPlugin,
    Mask,
    NodeListMemo,
    NodeLocalFilter,
    Nodes,
    PluginContext,
    Rejection,
    rows_passing,
)


class TaintToleration:
    """Rejects nodes with an untolerated ``NoSchedule``/``NoExecute`` taint, one reason per taint."""

    name = "taints"

    def __init__(self, nodes: Mapping[str, NodeSpec] | None = None) -> None:
        self._nodes = nodes
        self._memo = NodeListMemo()

    def filter_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        # Node facts change only with the node list, which resets every kept verdict.
        return ("tolerations", pod.tolerations)

    def feasible_rows(self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes) -> Mask | None:
        return rows_passing(self.filter(state, pod, snap), rows)

    def filter(self, state: CycleState, pod: PodRequest, snap: Snapshot) -> list[Rejection]:
        if self._nodes is None:
            return []
        names = snap.state.names
        return self._memo.get(pod.tolerations, names, lambda: self._compute(names, pod.tolerations))

    def _compute(self, names: tuple[str, ...], tolerations: tuple[Toleration, ...]) -> list[Rejection]:
        assert self._nodes is not None
        by_taint: dict[Taint, list[int]] = {}
        for i, name in enumerate(names):
            spec = self._nodes.get(name)
            first = None if spec is None else untolerated(spec.taints, tolerations)
            if first is not None:
                by_taint.setdefault(first, []).append(i)
        out = []
        for taint, rows in by_taint.items():
            mask = np.zeros(len(names), dtype=np.bool_)
            mask[rows] = True
            out.append(Rejection(f"node(s) had untolerated taint {taint}", mask, unresolvable=True))
        return out


def untolerated(taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...]) -> Taint | None:
    """The first blocking taint no toleration covers, or ``None``."""
    for taint in taints:
        if taint.effect in BLOCKING_EFFECTS and not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


def make(
    args: Mapping[str, Any], ctx: PluginContext, nodes: Mapping[str, NodeSpec] | None = None
) -> TaintToleration:
    return TaintToleration(nodes)


_f: FilterPlugin = TaintToleration()
_k: NodeLocalFilter = TaintToleration()
