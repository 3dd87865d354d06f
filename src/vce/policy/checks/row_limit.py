"""A release may hold at most ``max_rows`` rows; a larger result is denied, never truncated.

Truncating would let ``ORDER BY`` pick which rows leave (a LIMIT walk in disguise).
"""

from __future__ import annotations

NAME = "row_limit"


def exceeded(rows: int, max_rows: int) -> bool:
    """Whether ``rows`` released rows break the limit.

    >>> exceeded(10_000, 10_000), exceeded(10_001, 10_000)
    (False, True)
    """
    return rows > max_rows
