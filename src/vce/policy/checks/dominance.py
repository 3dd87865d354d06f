"""(n, k) dominance: the n largest contributors may not hold more than k of a released sum.

The top-n share is exact: a side query sums the measure per entity within each group, ranks
the subtotals and adds the n largest (see :mod:`vce.policy.rewrite`).
"""

from __future__ import annotations

import numpy as np

NAME = "dominance"


def failing(top: np.ndarray, total: np.ndarray, k: float) -> np.ndarray:
    """Rows whose top-n contributors hold more than ``k`` of a positive total.

    >>> failing(np.array([95.0, 50.0, 0.0]), np.array([100.0, 100.0, 0.0]), 0.9).tolist()
    [True, False, False]
    """
    top = np.nan_to_num(top.astype(float))
    total = np.nan_to_num(total.astype(float))
    return (total > 0) & (top > k * total)
