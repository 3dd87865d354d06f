"""Counts are released rounded to a base (default 5), wherever they appear in an output.

Rounding happens in the outermost SELECT, around every count aggregate (also inside ratios
such as ``count(*) * 100.0 / 7``, which would otherwise give the exact count back).
Suppression depends on contributors only, never on values, so rounding in SQL is the same
as rounding after suppression.
"""

from __future__ import annotations

NAME = "rounding"


def rounded_sql(expr_sql: str, base: int) -> str:
    """Return SQL that rounds ``expr_sql`` to the nearest multiple of ``base``.

    >>> rounded_sql("COUNT(*)", 5)
    'CAST(ROUND(CAST(COUNT(*) AS DOUBLE) / 5) * 5 AS BIGINT)'
    """
    return f"CAST(ROUND(CAST({expr_sql} AS DOUBLE) / {base}) * {base} AS BIGINT)"


def round_to(value: int, base: int) -> int:
    """Python twin of :func:`rounded_sql` (half away from zero, like DuckDB's ``round``).

    >>> [round_to(v, 5) for v in (7, 12, 13, 0)]
    [5, 10, 15, 0]
    """
    sign = -1 if value < 0 else 1
    return sign * int((abs(value) / base) + 0.5) * base
