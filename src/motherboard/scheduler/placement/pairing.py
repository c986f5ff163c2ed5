"""What a GPU share is worth when GPUs are packed as well as the workload allows: cutting-stock duals.

Which shares end up together on one GPU decides how much of it is lost. Offline, the best packing of the
workload's share sizes is the cutting-stock linear program (Gilmore–Gomory): choose how many GPUs hold
each *pattern* (a multiset of sizes that fits in 1000 milli) so that every share is covered with the
fewest GPUs. Its dual gives each size ``s`` a price ``y_s``: the fraction of a GPU that a share of that
size is worth in the best packing (every pattern is worth at most one GPU, the patterns the optimum uses
exactly one). On the Alibaba trace the 0.81-GPU share is worth a whole GPU (nothing but slivers fits
beside it), a 0.65 share two thirds (it pairs with a third), a 0.47 share one half, and the small shares
nothing (there are more 0.19 gaps beside 0.81 shares than small shares to fill them).

From the prices follows the value of a gap: ``V(f)``, the most that shares fitting in ``f`` milli are
worth (an unbounded knapsack). A GPU with ``f`` free can still recover at most ``V(f)``; putting a share of
``m`` there turns that into ``V(f − m)`` and earns ``y_m``, so the placement *loses*

    loss(f, m) = V(f) − V(f − m) − y_m  ≥ 0

of a GPU against the best packing. A placement on a pattern the optimum uses loses nothing; pairing a
0.32 share with a 0.47 (whose complement was another 0.47) loses about a twelfth of a GPU. The
``share-pairing`` scorer places shares where the loss is least.

The LP is solved by column generation: start with one single-size pattern per size, then repeatedly add
the pattern the current duals undervalue most (the knapsack above), until none is worth more than a
GPU. scipy's HiGHS solves each restricted LP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from motherboard.scheduler.cache.types import WHOLE_MILLI

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

PRICE_DIGITS = 9
"""Prices and losses are rounded to this many decimals: the LP's duals carry float noise (a third is
0.33333333333333337), and equal losses must compare equal so that ties go to the next scorer."""
MAX_ROUNDS = 500
"""Column-generation rounds before the LP is taken as solved (each adds one pattern; a workload of 20
sizes needs about 30)."""


@dataclass(frozen=True)
class SharePrices:
    """Per-size prices and the gap values ``V(0..1000)`` derived from them."""

    price: Mapping[int, float]
    """``y_s`` for each share size of the workload (milli → fraction of a GPU)."""
    value: F64
    """``V(f)`` for ``f`` in 0..1000: the most the workload's shares fitting in ``f`` milli are worth."""

    @classmethod
    def none(cls) -> SharePrices:
        """No workload: every price and value is 0, so every loss is 0 (the scorer has no opinion)."""
        return cls({}, np.zeros(WHOLE_MILLI + 1))

    @classmethod
    def from_counts(cls, counts: Mapping[int, int]) -> SharePrices:
        """Prices for a workload with ``counts[size]`` shares of each size (milli, 0 < size < 1000)."""
        sizes = sorted((int(s) for s, n in counts.items() if n > 0 and 0 < s < WHOLE_MILLI), reverse=True)
        if not sizes:
            return cls.none()
        demand = np.array([counts[s] for s in sizes], dtype=np.float64)
        duals = _cutting_stock_duals(np.array(sizes, dtype=np.int64), demand)
        price = {s: round(float(y), PRICE_DIGITS) for s, y in zip(sizes, duals, strict=True)}
        return cls(price, gap_values(price))

    def price_of(self, milli: int) -> float:
        """A size's price; a size the workload never asked for is worth what fits in it."""
        known = self.price.get(milli)
        return known if known is not None else float(self.value[min(milli, WHOLE_MILLI)])

    def loss(self, free: I64, milli: int) -> F64:
        """``loss(f, m)`` for each free amount ``f`` in ``free`` (``f ≥ m`` where it matters; a GPU with
        less free than ``m`` gets a meaningless number, the caller masks it)."""
        after = np.maximum(free - milli, 0)
        out: F64 = np.round(self.value[free] - self.value[after] - self.price_of(milli), PRICE_DIGITS)
        return out

    def loss_one(self, free: int, milli: int) -> float:
        """:meth:`loss` of one GPU, in plain Python (the same float arithmetic)."""
        value = self.value
        return round(
            float(value[free]) - float(value[max(free - milli, 0)]) - self.price_of(milli), PRICE_DIGITS
        )


def gap_values(price: Mapping[int, float]) -> F64:
    """``V(f)`` for ``f`` in 0..1000: unbounded knapsack of the priced sizes into ``f`` milli."""
    items = sorted((int(s), float(y)) for s, y in price.items() if y > 0)
    value = _knapsack(items)[0]
    out: F64 = np.round(np.array(value), PRICE_DIGITS)
    return out


def _knapsack(items: list[tuple[int, float]]) -> tuple[list[float], list[int]]:
    """Unbounded knapsack over capacities 0..1000: the best value at each, and the index in ``items`` of
    the item added last to reach it (-1: the capacity below's solution). Plain Python: a thousand
    capacities times a few dozen sizes is less work than numpy's per-call overhead."""
    value = [0.0] * (WHOLE_MILLI + 1)
    last = [-1] * (WHOLE_MILLI + 1)
    for f in range(1, WHOLE_MILLI + 1):
        best, pick = value[f - 1], -1
        for i, (size, worth) in enumerate(items):
            if size <= f:
                cand = value[f - size] + worth
                if cand > best:
                    best, pick = cand, i
        value[f], last[f] = best, pick
    return value, last


def _best_pattern(sizes: I64, duals: F64) -> tuple[float, I64]:
    """The pattern (count per size, total ≤ 1000 milli) the duals value most, and its value."""
    value, last = _knapsack([(int(s), float(y)) for s, y in zip(sizes, duals, strict=True)])
    pattern = np.zeros(len(sizes), dtype=np.int64)
    f = WHOLE_MILLI
    while f > 0:
        if last[f] < 0:
            f -= 1
        else:
            pattern[last[f]] += 1
            f -= int(sizes[last[f]])
    return value[WHOLE_MILLI], pattern


def _cutting_stock_duals(sizes: I64, demand: F64) -> F64:
    """Dual prices of ``min Σ x_p  s.t.  Σ_p a_sp x_p ≥ demand_s, x ≥ 0`` over all patterns ``a_p``."""
    from scipy.optimize import linprog  # imported here: only profiles that price shares need scipy

    columns = list(np.diag(WHOLE_MILLI // sizes))  # one pattern per size: as many as fit in a GPU
    duals = np.zeros(len(sizes))
    for _ in range(MAX_ROUNDS):
        matrix = np.array(columns, dtype=np.float64).T
        res = linprog(np.ones(len(columns)), A_ub=-matrix, b_ub=-demand, bounds=(0, None), method="highs")
        if res.status != 0:
            raise RuntimeError(f"cutting-stock LP failed: {res.message}")
        duals = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
        worth, pattern = _best_pattern(sizes, duals)
        if worth <= 1.0 + 1e-9:
            break
        columns.append(pattern)
    return duals
