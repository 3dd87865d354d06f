"""The statistics of a cell that dominance and the p% rule apply to, with their cell's rows.

``sum``, ``avg``/``mean``, ``stddev*`` and ``var*`` of a value are all built from the cell's
per-person subtotals of that value: where one person holds almost all of it, each of them
(with the cell's count, which leaves rounded but close) gives that person's value back.
:func:`additive_terms` lists, for one output expression, each such aggregate and the value
whose per-person subtotals the side query ranks — ``CASE WHEN filter THEN value END`` when
the aggregate has a FILTER, so dominance is computed over the cell's own rows.
Aggregates of constants (counts, also ``avg`` of a 0/1 indicator) are not measures of anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlglot import exp

from vce.policy.countlike import constant_values

ADDITIVE = (
    exp.Sum,
    exp.Avg,
    exp.Stddev,
    exp.StddevPop,
    exp.StddevSamp,
    exp.Variance,
    exp.VariancePop,
)
ADDITIVE_NAMES = frozenset({"mean", "var_samp", "var_pop", "stddev_samp", "stddev_pop"})
"""The same statistics where sqlglot parses them as anonymous functions."""


def _value(agg: exp.Expression) -> exp.Expression | None:
    if isinstance(agg, ADDITIVE):
        arg = agg.this
    elif isinstance(agg, exp.Anonymous) and str(agg.name).lower() in ADDITIVE_NAMES:
        arg = agg.expressions[0] if agg.expressions else None
    else:
        return None
    if isinstance(arg, exp.Distinct):
        return None  # sum(DISTINCT x): not a sum of contributions (denied elsewhere if unsafe)
    return arg


def additive_terms(
    output: exp.Expression,
    is_agg: Callable[[exp.Expression], bool],
    is_bool: Callable[[exp.Column], bool],
) -> Iterator[tuple[exp.Expression, exp.Expression, exp.Expression]]:
    """(aggregate, its value, value to rank per person) for every additive statistic.

    >>> import sqlglot
    >>> e = sqlglot.parse_one("avg(x) FILTER (WHERE c) + sum(1) + stddev(y)", read="duckdb")
    >>> [(a.sql(), v.sql()) for a, _, v in additive_terms(e, lambda a: True, lambda c: False)]
    [('STDDEV(y)', 'y'), ('AVG(x)', 'CASE WHEN c THEN x END')]
    """
    for node in output.find_all(exp.AggFunc):
        if not is_agg(node):
            continue
        value = _value(node)
        if value is None or constant_values(value, is_bool) is not None:
            continue
        ranked = value.copy()
        if isinstance(node.parent, exp.Filter):
            where = node.parent.expression
            cond = where.this if isinstance(where, exp.Where) else where
            ranked = exp.Case(ifs=[exp.If(this=cond.copy(), true=ranked)])
        yield node, value, ranked


def mean_as_avg(node: exp.Expression) -> exp.Expression:
    """``mean(x)`` as ``avg(x)``: sqlglot parses DuckDB's ``mean`` as an unknown function.

    Without this the rewrite did not see an aggregate at all: on a table that may leave row by
    row, ``SELECT mean(view_count) FROM videos WHERE <one video>`` was checked as a row
    export, and released that video's views.

    >>> import sqlglot
    >>> sqlglot.parse_one("mean(x)", read="duckdb").transform(mean_as_avg).sql()
    'AVG(x)'
    """
    named_mean = isinstance(node, exp.Anonymous) and str(node.name).lower() == "mean"
    if named_mean and len(node.expressions) == 1:
        return exp.Avg(this=node.expressions[0].copy())
    return node
