"""A quantile or median leaves only with enough people strictly below it and strictly above it.

``quantile_disc(view_count, 1.0)`` is the largest view count: one video's, one person's.
``0.9999`` or ``0.0`` do the same in any group smaller than ten thousand rows. A side query
(see :mod:`vce.policy.rewrite`) recomputes each released order statistic per group and counts
the distinct entities whose value is strictly below it and strictly above it; a row where
either count is under the threshold the row needs (the U18 one where a minor contributed) is
suppressed. With that many people on each side the value is no single person's extreme.
"""

from __future__ import annotations

import numpy as np

NAME = "order_statistic"


def failing(below: np.ndarray, above: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Rows whose quantile has fewer than ``need`` entities strictly below or strictly above.

    >>> failing(np.array([10, 9, 60, 20]), np.array([10, 40, 60, 20]),
    ...         np.array([10, 10, 50, 50])).tolist()
    [False, True, False, True]
    """
    return (below < need) | (above < need)
