"""Stricter threshold wherever any contributor is under 18 (``u18.min_entities``, default 50).

The flag comes from the ``audience`` partition of the base rows: a row is ``minor`` when any
person it is about is under 18, so one minor's comment makes the whole group a U18 group.
"""

from __future__ import annotations

import numpy as np

NAME = "u18_threshold"


def failing(counts: list[np.ndarray], minor: np.ndarray, u18_min_entities: int) -> np.ndarray:
    """Rows with a minor contributor and fewer than the U18 threshold in a feeding column.

    >>> failing([np.array([60, 20, 20])], np.array([True, True, False]), 50).tolist()
    [False, True, False]
    """
    fail = np.zeros(len(minor), dtype=bool)
    for c in counts:
        fail |= (c >= 0) & (c < u18_min_entities)  # (-1: the column does not feed the row)
    return fail & minor
