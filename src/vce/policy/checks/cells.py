"""Conditional aggregates need as many people behind them as the row's group.

``count_if(age_band = '13-15')`` over a region of 10,000 users is a group of 10,000 with a
cell of perhaps two. The rewrite counts the distinct people behind every conditional
aggregate of a row (``FILTER``, ``count_if``, ``CASE``/``IF`` and predicates inside the
aggregate) and reports the smallest non-zero one; a row whose smallest cell is below the
threshold (the U18 one where a minor contributed) is suppressed. A cell of 0 people is
withheld exactly like a cell of one (``empty-cell``, as ACRO treats zeros): otherwise a
released 0 next to a withheld 1 answers "does this person have the property?". Conditions
inside HAVING aggregates are cells as well. ``-1`` marks a row without cells (a UNION ALL
branch without conditional aggregates).
"""

from __future__ import annotations

import numpy as np

NAME = "cell_threshold"


def failing(cellmin: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Rows whose smallest conditional cell, empty or not, is below the people the row needs.

    ``need`` is per row (:meth:`vce.policy.model.Thresholds.needed`: with a minor, both
    thresholds).

    >>> failing(np.array([0, 3, 12, 30, -1]), np.array([10, 10, 10, 50, 10])).tolist()
    [True, True, False, True, False]
    """
    return (cellmin >= 0) & (cellmin < need)


def smallest(cells: list[np.ndarray]) -> np.ndarray:
    """Per row, the smallest cell (an empty one included).

    What the rewritten query computes as ``__vce_cellmin`` (``least`` of the cells), for
    cells counted one by one.

    >>> smallest([np.array([0, 3, 20]), np.array([12, 5, 30])]).tolist()
    [0, 3, 20]
    """
    return np.vstack(cells).min(axis=0)
