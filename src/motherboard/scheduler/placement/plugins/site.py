"""Central/edge site affinity: required site or site kind filters, a preferred kind scores."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.state import Catalog
from motherboard.scheduler.cache.types import PodRequest
from motherboard.scheduler.placement.framework import (
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


class SiteAffinity:
    """Keeps a pod on its site (``motherboard.io/site``) or site kind (``central``/``edge``)."""

    name = "site-affinity"

    def filter_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return ("site", pod.site, pod.site_kind)  # static labels of each node

    def feasible_rows(self, state: CycleState, pod: PodRequest, snap: Snapshot, rows: Nodes) -> Mask | None:
        if pod.site is None and pod.site_kind is None:
            return None
        return rows_passing(self.filter(state, pod, snap), rows)

    def filter(self, state: CycleState, pod: PodRequest, snap: Snapshot) -> list[Rejection]:
        s, cat = snap.state, snap.catalog
        out = []
        if pod.site is not None:
            out.append(Rejection("site mismatch", s.site != Catalog.find(cat.sites, pod.site), True))
        if pod.site_kind is not None:
            kind = Catalog.find(cat.site_kinds, pod.site_kind)
            out.append(Rejection("site kind mismatch", s.site_kind != kind, True))
        return out

    def score_key(self, state: CycleState, pod: PodRequest) -> Hashable | None:
        return ("site-kind", pod.preferred_site_kind)  # a static label of each node

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        if pod.preferred_site_kind is None:
            return np.zeros(len(nodes))
        kind = Catalog.find(snap.catalog.site_kinds, pod.preferred_site_kind)
        return np.where(snap.state.site_kind[nodes] == kind, 100.0, 0.0)


def make(args: Mapping[str, Any], ctx: PluginContext) -> SiteAffinity:
    return SiteAffinity()


_f: FilterPlugin = SiteAffinity()
_k: NodeLocalFilter = SiteAffinity()
_s: ScorePlugin = SiteAffinity()
