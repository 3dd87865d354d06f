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


def failing(cellmin: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Rows whose smallest non-empty conditional cell is below the people the row needs.

    ``need`` is per row (:meth:`vce.policy.model.Thresholds.needed`: with a minor, both
    thresholds).

    >>> failing(np.array([0, 3, 12, 30]), np.array([10, 10, 10, 50])).tolist()
    [False, True, False, True]
    """
    return (cellmin > 0) & (cellmin < need)


def smallest(cells: list[np.ndarray]) -> np.ndarray:
    """Per row, the smallest non-empty cell (0 when every cell is empty).

    What the rewritten query computes as ``__vce_cellmin`` (``least`` of ``nullif(cell, 0)``),
    for cells counted one by one.

    >>> smallest([np.array([0, 3, 0]), np.array([12, 5, 0])]).tolist()
    [12, 3, 0]
    """
    stacked = np.vstack(cells)
    top = np.iinfo(stacked.dtype).max
    least = np.where(stacked > 0, stacked, top).min(axis=0)
    return np.where(least == top, 0, least)
