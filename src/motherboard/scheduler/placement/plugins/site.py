"""Central/edge site affinity: required site or site kind filters; preferred sites (in order) and a preferred
kind score."""

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
        return ("site-kind", pod.preferred_site_kind, pod.preferred_sites)  # static labels of each node

    def score(self, state: CycleState, pod: PodRequest, snap: Snapshot, nodes: Nodes) -> Scores:
        scores = np.zeros(len(nodes))
        if pod.preferred_sites:
            # The first preferred site scores 100, the next ones less, in order; other sites 0. This plugin
            # weighs more than packing in the default profile, so a preferred site wins whenever it fits.
            sites = snap.state.site[nodes]
            count = len(pod.preferred_sites)
            for rank, name in enumerate(pod.preferred_sites):
                index = Catalog.find(snap.catalog.sites, name)
                if index >= 0:
                    scores = np.where(
                        (sites == index) & (scores == 0), 100.0 * (count - rank) / count, scores
                    )
        if pod.preferred_site_kind is not None:
            kind = Catalog.find(snap.catalog.site_kinds, pod.preferred_site_kind)
            scores = scores + np.where(snap.state.site_kind[nodes] == kind, 100.0, 0.0)
        return scores


def make(args: Mapping[str, Any], ctx: PluginContext) -> SiteAffinity:
    return SiteAffinity()


_f: FilterPlugin = SiteAffinity()
_k: NodeLocalFilter = SiteAffinity()
_s: ScorePlugin = SiteAffinity()
