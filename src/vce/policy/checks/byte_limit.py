"""A release may hold at most ``max_bytes`` bytes (Arrow size of the released table)."""

from __future__ import annotations

import pyarrow as pa

NAME = "byte_limit"


def size(table: pa.Table) -> int:
    """Bytes the released table occupies in Arrow memory.

    >>> size(pa.table({"a": pa.array([1, 2], pa.int64())}))
    16
    """
    return int(table.nbytes)


def exceeded(nbytes: int, max_bytes: int) -> bool:
    """Whether a release of ``nbytes`` breaks the limit.

    >>> exceeded(17, 16)
    True
    """
    return nbytes > max_bytes
