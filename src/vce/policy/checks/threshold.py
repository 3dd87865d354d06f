"""Suppress rows behind fewer than ``min_entities`` distinct people per entity column.

A count of -1 (:data:`vce.policy.rewrite.NOT_FED`) means that entity column does not feed
the row by the query's structure (a UNION ALL branch over other tables). A count of 0 is a
data zero — the empty side of an outer join, a group no row of that table reached — and is
withheld exactly like a count of one (``empty-cell``): a released zero next to a withheld
one tells whether a person is there. A row of a query over people tables with no
contributor at all (``count(*)`` over an empty filter) is suppressed too.
"""

from __future__ import annotations

import numpy as np

NAME = "threshold"


def failing(
    counts: list[np.ndarray],
    raw: np.ndarray,
    has_people: bool,
    min_entities: int,
    strict: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Boolean mask of aggregated rows below ``min_entities`` in any feeding entity column.

    >>> c = [np.array([12, 3, -1, -1]), np.array([-1, -1, -1, 40])]
    >>> failing(c, np.array([False] * 4), True, 10).tolist()
    [False, True, True, False]
    >>> failing(c, np.array([False, False, True, False]), True, 10).tolist()  # raw row: row export
    [False, True, False, False]
    >>> failing(c, np.array([False] * 4), True, 10, strict=[np.array([0, 20, 20, 20])]).tolist()
    [True, True, True, False]
    >>> failing([np.array([12]), np.array([0])], np.array([False]), True, 10).tolist()  # 0: fed
    [True]

    ``strict`` counts (the group of a scalar subquery, e.g. a total used in a ratio) must
    meet the threshold even when 0: an empty total says nobody has that property.
    """
    n = len(raw)
    fail = np.zeros(n, dtype=bool)
    fed = np.zeros(n, dtype=bool)
    for c in counts:
        fail |= (c >= 0) & (c < min_entities)
        fed |= c > 0
    if has_people:
        fail |= ~fed & ~raw
    for c in strict or ():
        fail |= c < min_entities
    return fail


def smallest(counts: list[np.ndarray], keep: np.ndarray) -> int | None:
    """Smallest positive contributor count among kept rows (for the report).

    >>> smallest([np.array([12, 30]), np.array([0, 11])], np.array([True, True]))
    11
    """
    vals = [int(c[keep & (c > 0)].min()) for c in counts if (keep & (c > 0)).any()]
    return min(vals) if vals else None
