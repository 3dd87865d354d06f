"""(n, k) dominance and the p% rule on every additive statistic of a protected measure.

A released ``sum``, ``avg``, ``stddev`` or ``variance`` of a measure declared
``dominance: true`` is built from the cell's per-person subtotals; where one or two people
hold almost all of them, the statistic (with the count, even rounded) gives their value back.
Two rules, as in ACRO (on every statistic of a cell, not only sums):

- (n, k): the n largest contributors may not hold more than ``k`` of the total;
- p%: the total minus the two largest must be at least ``p`` of the largest — the second
  largest contributor cannot estimate the largest to within ``p``.

The top-n shares are exact: a side query sums the measure per entity within each cell (the
aggregate's FILTER included), ranks the subtotals and adds the n largest (see
:mod:`vce.policy.rewrite`, :mod:`vce.policy.additive`). The fast pass only has an upper bound
of the top-n sum; it stands in for the largest too, which can only fail more rows (they are
then recomputed exactly).
"""

from __future__ import annotations

import numpy as np

NAME = "dominance"


def failing(
    top: np.ndarray,
    total: np.ndarray,
    k: float,
    p: float = 0.0,
    top1: np.ndarray | None = None,
) -> np.ndarray:
    """Rows whose top-n contributors hold more than ``k``, or that fail the p% rule.

    >>> failing(np.array([95.0, 50.0, 0.0]), np.array([100.0, 100.0, 0.0]), 0.9).tolist()
    [True, False, False]
    >>> # 93 + 1 of 100: (n, k) with k = 0.99 passes; the rest (6) is under 10% of 93
    >>> failing(np.array([94.0]), np.array([100.0]), 0.99, 0.1, np.array([93.0])).tolist()
    [True]
    >>> failing(np.array([60.0]), np.array([100.0]), 0.99, 0.1, np.array([50.0])).tolist()
    [False]
    """
    top = np.nan_to_num(top.astype(float))
    total = np.nan_to_num(total.astype(float))
    fails = (total > 0) & (top > k * total)
    if p > 0:
        largest = top if top1 is None else np.nan_to_num(top1.astype(float))
        fails |= (total > 0) & (total - top < p * largest)
    return fails
