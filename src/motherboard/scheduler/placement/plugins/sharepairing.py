"""Share pairing: put a GPU share where it loses least against the best packing of the workload's shares.

The prices come from the cutting-stock LP over the recent workload's share sizes
(:mod:`motherboard.scheduler.placement.pairing`): a share of ``m`` on a GPU with ``f`` free loses
``V(f) − V(f − m) − y_m`` of a GPU, zero when the GPU stays on a pattern the best packing uses (a 0.32
share beside a 0.65, a 0.47 beside a 0.47, a 0.16 in the sliver next to a 0.81), more when it spoils one
(a 0.32 beside a 0.47 leaves a gap that only rare shares fit). The node's score is the least loss over
its GPUs, negated, in GPUs (a profile weight of 1000 puts it in milli-GPU, the unit of ``stranding``); the
device selector takes that GPU, the fullest among equals.

Arguments (profile ``pluginArgs.share-pairing``): ``coverage`` (the share of the workload's share pods whose
sizes enter the LP, most common first; 1.0 by default, since rare small sizes are what fills slivers) and
``max_sizes`` (at most this many sizes, most common first, 64 by default: the LP's cost grows quickly with
the sizes, about 1 s for 100 and 6 s for 200; a size left out is worth what fits in it).
With no shares in the workload every loss is 0 and the scorer leaves placement to the others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.types import DeviceKind, PodRequest
from motherboard.scheduler.placement.framework import DeviceSelectPlugin, PluginContext, ScorePlugin
from motherboard.scheduler.placement.pairing import SharePrices
from motherboard.scheduler.placement.sharegap import ShareGapScorer

F64 = NDArray[np.float64]
MAX_SIZES = 64
"""Share sizes that enter the LP by default (the most common ones)."""


def share_counts(
    workload: Sequence[PodRequest], coverage: float = 1.0, max_sizes: int = MAX_SIZES
) -> Counter[int]:
    """How many single-GPU shares of each size the workload holds (the most common sizes covering
    ``coverage`` of them, at most ``max_sizes`` sizes)."""
    counts: Counter[int] = Counter(
        p.devices.milli
        for p in workload
        if p.devices is not None and p.devices.kind is DeviceKind.FRACTION and p.devices.count == 1
    )
    if coverage >= 1.0 and len(counts) <= max_sizes:
        return counts
    kept: Counter[int] = Counter()
    total, covered = sum(counts.values()), 0
    for size, count in sorted(counts.items(), key=lambda kv: (-kv[1], -kv[0])):
        if covered >= coverage * total or len(kept) >= max_sizes:
            break
        kept[size] = count
        covered += count
    return kept


class SharePairing(ShareGapScorer):
    """Scores shares by their loss against the workload's best packing; picks the GPU that loses least."""

    name = "share-pairing"

    def __init__(self, prices: SharePrices) -> None:
        super().__init__()
        self.prices = prices

    def change(self, free: NDArray[np.int64], milli: int) -> F64:
        return self.prices.loss(free, milli)

    def change_one(self, free: int, milli: int) -> float:
        return self.prices.loss_one(free, milli)


def make(args: Mapping[str, Any], ctx: PluginContext) -> SharePairing:
    counts = share_counts(
        ctx.workload, float(args.get("coverage", 1.0)), int(args.get("max_sizes", MAX_SIZES))
    )
    return SharePairing(SharePrices.from_counts(counts))  # no shares: no prices, every loss 0


_s: ScorePlugin = SharePairing(SharePrices.none())
_d: DeviceSelectPlugin = SharePairing(SharePrices.none())
