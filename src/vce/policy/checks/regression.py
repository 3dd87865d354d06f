"""Regressions and correlations leave only with enough residual degrees of freedom.

A slope through two points is the line through two people's values. ACRO's default: at
least 10 residual degrees of freedom (n − 2 for a simple regression or correlation, n the
non-NULL pairs). The rewrite adds, next to every released ``regr_*`` / ``corr`` / ``covar_*``
of the outermost GROUP BY, a helper column ``regr_count(y, x)`` with the aggregate's own
FILTER (:func:`pair_counts`); a row with too few pairs in any of them is suppressed. The
arguments are columns as they are (static rule ``regression-dof``), so the count is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from sqlglot import exp

NAME = "regression_dof"
PARAMETERS = 2  # slope and intercept: residual degrees of freedom are n - 2

REGRESSIONS = (
    exp.RegrSlope,
    exp.RegrIntercept,
    exp.RegrR2,
    exp.Corr,
    exp.CovarPop,
    exp.CovarSamp,
    exp.RegrAvgx,
    exp.RegrAvgy,
    exp.RegrSxx,
    exp.RegrSxy,
    exp.RegrSyy,
)


def pair_counts(
    outputs: list[exp.Expression], is_agg: Callable[[exp.Expression], bool]
) -> Iterator[exp.Expression]:
    """``regr_count(y, x)`` (with the FILTER) for every regression among ``outputs``.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT corr(y, x) FILTER (WHERE c) FROM t", read="duckdb")
    >>> [e.sql("duckdb") for e in pair_counts(q.expressions, lambda a: True)]
    ['REGR_COUNT(y, x) FILTER(WHERE c)']
    """
    for out in outputs:
        for node in out.find_all(*REGRESSIONS):
            if not is_agg(node):
                continue
            count: exp.Expression = exp.Anonymous(
                this="regr_count", expressions=[node.this.copy(), node.expression.copy()]
            )
            if isinstance(node.parent, exp.Filter):
                count = exp.Filter(this=count, expression=node.parent.expression.copy())
            yield count


def failing(pairs: list[np.ndarray], min_dof: int) -> np.ndarray | None:
    """Rows where some regression has fewer than ``min_dof`` residual degrees of freedom.

    >>> failing([np.array([12, 11, 0])], 10).tolist()
    [False, True, True]
    """
    fail = None
    for n in pairs:
        f = (n - PARAMETERS) < min_dof
        fail = f if fail is None else fail | f
    return fail
