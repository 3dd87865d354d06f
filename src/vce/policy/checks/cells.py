"""Conditional aggregates need as many people behind them as the row's group.

``count_if(age_band = '13-15')`` over a region of 10,000 users is a group of 10,000 with a
cell of perhaps two. The rewrite counts the distinct people behind every conditional
aggregate of a row (``FILTER``, ``count_if``, ``CASE``/``IF`` and predicates inside the
aggregate) and reports the smallest non-zero one; a row whose smallest cell is below the
threshold (the U18 one where a minor contributed) is suppressed. A cell of 0 people is not
a disclosure about anyone and does not suppress the row.
"""

from __future__ import annotations

import numpy as np

NAME = "cell_threshold"


def failing(cellmin: np.ndarray, minor: np.ndarray, min_entities: int, u18: int) -> np.ndarray:
    """Rows whose smallest non-empty conditional cell is below the applicable threshold.

    A row with a minor meets both thresholds (a policy could set the U18 one lower).

    >>> failing(np.array([0, 3, 12, 30]), np.array([False, False, False, True]), 10, 50).tolist()
    [False, True, False, True]
    >>> failing(np.array([30]), np.array([True]), 100, 20).tolist()
    [True]
    """
    need = np.where(minor, max(u18, min_entities), min_entities)
    return (cellmin > 0) & (cellmin < need)
