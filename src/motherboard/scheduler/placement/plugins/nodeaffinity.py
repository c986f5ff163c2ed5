"""Required node affinity (``nodeSelector`` and ``requiredDuringSchedulingIgnoredDuringExecution``).

A pod's terms are ORed and each term's requirements ANDed, as in Kubernetes. Node labels are read from
``nodes`` (name → :class:`NodeSpec`, kept by the Kubernetes adapter): the snapshot's arrays intern only
the labels placement scores on. Without ``nodes`` (the simulator) every node passes.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import NodeSelectorTerm, NodeSpec, PodRequest
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

REASON = "node(s) didn't match Pod's node affinity/selector"
"""kube-scheduler's wording, so operators recognise it."""


class NodeAffinity:
    """Rejects nodes whose labels satisfy none of the pod's node-selector terms."""

    name = "node-affinity"

    def __init__(self, nodes: Mapping[str, NodeSpec] | None = None) -> None:
        self._nodes = nodes
        self._memo = NodeListMemo()

    def filter_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        # Node facts change only with the node list, which resets every kept verdict.
        return ("selector", pod.node_selector)

    def feasible_rows(self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes) -> Mask | None:
        return rows_passing(self.filter(state, pod, snap), rows)

    def filter(self, state: CycleState, pod: PodRequest, snap: Snapshot) -> list[Rejection]:
        if self._nodes is None or not pod.node_selector:
            return []
        return self._memo.get(
            pod.node_selector, snap.state.names, lambda: self._reject(snap.state.names, pod)
        )

    def _reject(self, names: tuple[str, ...], pod: PodRequest) -> list[Rejection]:
        assert self._nodes is not None
        mask = np.array(
            [not matches(self._nodes.get(name), pod.node_selector) for name in names], dtype=np.bool_
        )
        return [Rejection(REASON, mask, unresolvable=True)] if mask.any() else []


def matches(node: NodeSpec | None, terms: tuple[NodeSelectorTerm, ...]) -> bool:
    """Whether ``node``'s labels satisfy any one of ``terms`` (an unknown node matches nothing)."""
    if node is None:
        return False
    return any(all(req.matches(node.labels) for req in term) for term in terms)


def make(
    args: Mapping[str, Any], ctx: PluginContext, nodes: Mapping[str, NodeSpec] | None = None
) -> NodeAffinity:
    return NodeAffinity(nodes)


_f: FilterPlugin = NodeAffinity()
_k: NodeLocalFilter = NodeAffinity()
