"""Right-sized nodes: prefer the node whose accelerator count is closest above the pod's need.

Small pods on small nodes keep the big (8-GPU) nodes whole for the pods only they can hold. On its own a
weak policy; as the tie-break under a coarse primary score (quantised FGD) it decides among equals.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.types import PodRequest
from motherboard.scheduler.placement.framework import (
    CycleState,
    Nodes,
    PluginContext,
    ScorePlugin,
    Scores,
    shape_key,
)


class NodeSize:
    """``100 − 10 · (devices on the node − devices the pod needs)``, floored at 0."""

    name = "node-size"

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return shape_key(pod)  # node-local: the resource shape and the node's row decide

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        need = 0 if pod.devices is None else pod.devices.count
        spare = snap.state.dev_count[nodes] - need
        out: Scores = np.maximum(100.0 - 10.0 * spare, 0.0)
        return out


def make(args: Mapping[str, Any], ctx: PluginContext) -> NodeSize:
    return NodeSize()


_: ScorePlugin = NodeSize()
