"""Row-level export never releases a minor's row, whatever the policy allows for adults."""

from __future__ import annotations

import numpy as np

NAME = "minor_rows"


def failing(raw: np.ndarray, minor_raw: np.ndarray) -> np.ndarray:
    """Unaggregated rows that came from a ``minor`` partition.

    >>> failing(np.array([True, True, False]), np.array([True, False, True])).tolist()
    [True, False, False]
    """
    return raw & minor_raw
