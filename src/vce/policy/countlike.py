"""Which aggregates are counts, also in disguise, and which arithmetic rebuilds a sum from one.

A released count is rounded (:mod:`vce.policy.checks.rounding`), so the count must be
recognised whatever it is written as: ``count(*)``, ``count_if(c)``, but also ``sum(1)``,
``sum(CASE WHEN c THEN 1 ELSE 0 END)`` or ``sum(is_verified::INT)`` — a sum of a 0/1
*indicator* is the number of rows where it is 1. A sum of other constants (``sum(5)``,
``sum(CASE WHEN c THEN 2 ELSE 0 END)``) is a count times a constant that rounding to a base
cannot hide (``5 × n`` rounded to 5 is exact); it is denied. ``avg`` of an indicator is a
ratio of two counts and is released as the ratio of the two rounded counts.

Rounding alone does not stop a count from multiplying another statistic back into the one
that was withheld: ``avg(x) * count(*)`` is ``sum(x)``, whose dominance was never checked.
:func:`count_product` finds such products (also written ``avg(x) / (1.0 / count(*))``) so the
query is denied. Dividing by a count (an average) or adding one is not a product.

The classification is shared by the static rule (``count-arithmetic``, ``constant-sum``) and the
rewrite that rounds counts, so they cannot disagree about what a count is.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from sqlglot import exp

IsBool = Callable[[exp.Column], bool]
INDICATOR = frozenset({0.0, 1.0, None})
_BOOLEAN = (exp.Predicate, exp.Connector, exp.Not, exp.Exists, exp.Boolean)
# nodes through which a value keeps its role in a product or ratio
_TRANSPARENT = (
    exp.Paren,
    exp.Cast,
    exp.TryCast,
    exp.Neg,
    exp.Round,
    exp.Abs,
    exp.Nullif,
    exp.Coalesce,
    exp.Alias,
)
_ARITH = (exp.Mul, exp.Div, exp.Add, exp.Sub)
COUNT_AGGS = (exp.Count, exp.CountIf, exp.ApproxDistinct)


def constant_values(e: exp.Expression | None, is_bool: IsBool) -> frozenset | None:
    """The values ``e`` can take when they do not depend on any measure (``None``: they do).

    >>> import sqlglot
    >>> f = lambda s: constant_values(sqlglot.parse_one(s), lambda c: c.name == "flag")
    >>> sorted(f("CASE WHEN a > 1 THEN 1 ELSE 0 END")), f("x"), sorted(f("CAST(flag AS INT)"))
    ([0.0, 1.0], None, [0.0, 1.0])
    >>> f("IF(a = 1, 2, NULL)") == {2.0, None}, f("CASE WHEN a THEN x ELSE 0 END")
    (True, None)
    """
    if e is None or isinstance(e, exp.Null):
        return frozenset({None})
    if isinstance(e, exp.Boolean):
        return frozenset({1.0 if e.this else 0.0})
    if isinstance(e, exp.Literal):
        if e.is_string:
            return None
        return frozenset({float(e.this)})
    if isinstance(e, exp.Neg):
        inner = constant_values(e.this, is_bool)
        return None if inner is None else frozenset(None if v is None else -v for v in inner)
    if isinstance(e, exp.Paren | exp.Cast | exp.TryCast):
        return constant_values(e.this, is_bool)
    if isinstance(e, exp.Column):
        return frozenset({0.0, 1.0}) if is_bool(e) else None
    if isinstance(e, _BOOLEAN):
        return frozenset({0.0, 1.0})
    if isinstance(e, exp.Case):
        parts = [constant_values(i.args.get("true"), is_bool) for i in e.args.get("ifs") or []]
        parts.append(constant_values(e.args.get("default"), is_bool))
    elif isinstance(e, exp.If):
        parts = [
            constant_values(e.args.get("true"), is_bool),
            constant_values(e.args.get("false"), is_bool),
        ]
    else:
        return None
    if any(p is None for p in parts):
        return None
    return frozenset().union(*parts)  # type: ignore[arg-type]


def _argument(agg: exp.Expression) -> exp.Expression | None:
    arg = agg.this
    if isinstance(arg, exp.Distinct):
        return None  # sum(DISTINCT 1) is 1: not a count
    return arg


def is_indicator_sum(agg: exp.Expression, is_bool: IsBool) -> bool:
    """``sum`` of a 0/1 indicator: the number of rows where it is 1 (a count)."""
    if not isinstance(agg, exp.Sum):
        return False
    vals = constant_values(_argument(agg), is_bool)
    return vals is not None and vals <= INDICATOR


def is_constant_sum(agg: exp.Expression, is_bool: IsBool) -> bool:
    """``sum`` of constants that are not all 0/1: a count times a constant (``sum(5)``).

    >>> import sqlglot
    >>> [is_constant_sum(sqlglot.parse_one(s), lambda c: False)
    ...  for s in ("sum(5)", "sum(1)", "sum(x)", "sum(CASE WHEN a THEN 2 ELSE 0 END)")]
    [True, False, False, True]
    """
    if not isinstance(agg, exp.Sum):
        return False
    vals = constant_values(_argument(agg), is_bool)
    return vals is not None and not vals <= INDICATOR


def is_indicator_avg(agg: exp.Expression, is_bool: IsBool) -> bool:
    """``avg`` of a 0/1 indicator: a ratio of two counts."""
    if not isinstance(agg, exp.Avg):
        return False
    vals = constant_values(_argument(agg), is_bool)
    return vals is not None and vals <= INDICATOR and vals != {None}


def is_count_aggregate(agg: exp.Expression, is_bool: IsBool) -> bool:
    """A count, however written: ``count``, ``count_if``, ``approx_count_distinct``, ``sum(1)``.

    >>> import sqlglot
    >>> [is_count_aggregate(sqlglot.parse_one(s), lambda c: c.name == "flag")
    ...  for s in ("count(*)", "count_if(a > 1)", "sum(1)", "sum(flag)", "sum(x)", "avg(1)")]
    [True, True, True, True, False, False]
    """
    return isinstance(agg, COUNT_AGGS) or is_indicator_sum(agg, is_bool)


def _path(node: exp.Expression, root: exp.Expression) -> list[exp.Expression]:
    """``node`` and its ancestors up to ``root`` (inclusive)."""
    out = [node]
    while out[-1] is not root and out[-1].parent is not None:
        out.append(out[-1].parent)
    return out


def _polarity(path: list[exp.Expression], upto: exp.Expression) -> tuple[int, bool]:
    """(+1 numerator / -1 denominator relative to ``upto``, only arithmetic on the way)."""
    sign, plain = 1, True
    for child, parent in pairwise(path):
        if isinstance(parent, exp.Div) and child is parent.expression:
            sign = -sign
        if parent is upto:
            break
        if not isinstance(parent, _ARITH + _TRANSPARENT + (exp.Filter,)):
            plain = False
    return sign, plain


def count_product(
    root: exp.Expression,
    terms: list[exp.Expression],
    is_count: Callable[[exp.Expression], bool],
) -> tuple[exp.Expression, exp.Expression] | None:
    """A (count, other statistic) pair that ``root`` multiplies together, else ``None``.

    ``terms`` are the aggregates (or columns holding an inner query's aggregates) under
    ``root``. Two terms meeting in ``*`` with the same polarity, or in ``/`` with opposite
    polarity (``a / (1 / n)``), are a product; terms meeting in ``+``/``-`` are not, unless a
    non-arithmetic function (``ln``, ``power``) lies between them and where they meet.

    >>> import sqlglot
    >>> def pair(s):
    ...     t = sqlglot.parse_one(s)
    ...     terms = [a for a in t.find_all(exp.AggFunc)]
    ...     found = count_product(t, terms, lambda a: isinstance(a, exp.Count))
    ...     return found and (found[0].sql(), found[1].sql())
    >>> pair("avg(x) * count(*)"), pair("avg(x) / (1.0 / count(*))")
    (('COUNT(*)', 'AVG(x)'), ('COUNT(*)', 'AVG(x)'))
    >>> pair("sum(x) / count(*)"), pair("count(*) * 100.0 / 7"), pair("avg(x) + count(*)")
    (None, None, None)
    >>> pair("exp(ln(avg(x)) + ln(count(*)))")
    ('COUNT(*)', 'AVG(x)')
    """
    counts = [t for t in terms if is_count(t)]
    others = [t for t in terms if not is_count(t)]
    for c in counts:
        cpath = _path(c, root)
        for a in others:
            apath = _path(a, root)
            ids = {id(n) for n in apath}
            meet = next((n for n in cpath if id(n) in ids), None)
            if meet is None or meet is c or meet is a:
                continue
            csign, cplain = _polarity(cpath, meet)
            asign, aplain = _polarity(apath, meet)
            if isinstance(meet, exp.Mul | exp.Div):
                if csign == asign or not (cplain and aplain):
                    return c, a
            elif not (cplain and aplain) or not isinstance(meet, _ARITH + _TRANSPARENT):
                return c, a
    return None


def is_mean(agg: exp.Expression) -> bool:
    """``avg(x)`` or DuckDB's ``mean(x)`` (which sqlglot parses as an unknown function)."""
    if isinstance(agg, exp.Anonymous):
        return str(agg.name).lower() == "mean"
    return isinstance(agg, exp.Avg)


def _cell_key(agg: exp.Expression) -> str:
    """The value and FILTER of an aggregate: two aggregates over the same cell share it."""
    flt = agg.parent.expression.sql() if isinstance(agg.parent, exp.Filter) else ""
    if isinstance(agg, exp.Anonymous):
        value = agg.expressions[0].sql() if agg.expressions else ""
    else:
        value = agg.this.sql() if agg.this is not None else ""
    return f"{value}|{flt}"


def total_and_mean(aggs: list[exp.Expression]) -> tuple[exp.Expression, exp.Expression] | None:
    """A ``sum`` and an ``avg`` of the same value over the same cell, else ``None``.

    Released together, ``sum(x) / avg(x)`` is the cell's exact count however the count
    itself is rounded: 11 where ``count(*)`` says 10.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT sum(x), avg(x), avg(y) FROM t")
    >>> [a.sql() for a in total_and_mean(list(q.find_all(exp.AggFunc)))]
    ['SUM(x)', 'AVG(x)']
    >>> total_and_mean(list(sqlglot.parse_one("SELECT sum(x), avg(y) FROM t").find_all(exp.Sum)))
    """
    sums = {_cell_key(a): a for a in aggs if isinstance(a, exp.Sum)}
    for a in aggs:
        if is_mean(a) and _cell_key(a) in sums:
            return sums[_cell_key(a)], a
    return None


def total_over_mean(
    root: exp.Expression, terms: list[exp.Expression]
) -> tuple[exp.Expression, exp.Expression] | None:
    """A ``sum`` and an ``avg`` that ``root`` multiplies or divides: a count times a ratio.

    ``sum(x) / avg(y)`` is ``n × sum(x) / sum(y)``: with ``sum(y)`` released too (here or in
    another query), the exact count. Any product or quotient of the two kinds is refused.

    >>> import sqlglot
    >>> t = sqlglot.parse_one("sum(x) / avg(x)")
    >>> [a.sql() for a in total_over_mean(t, list(t.find_all(exp.AggFunc)))]
    ['AVG(x)', 'SUM(x)']
    >>> t = sqlglot.parse_one("sum(x) / count(*)")
    >>> total_over_mean(t, list(t.find_all(exp.AggFunc)))
    """
    kinds = [t for t in terms if isinstance(t, exp.Sum) or is_mean(t)]
    found = count_product(root, kinds, is_mean)
    if found is not None:
        return found
    # avg(x) / sum(x): both polarities count
    for a in kinds:
        for b in kinds:
            if is_mean(a) and isinstance(b, exp.Sum):
                meet = _meet(a, b, root)
                if isinstance(meet, exp.Mul | exp.Div):
                    return a, b
    return None


def _meet(a: exp.Expression, b: exp.Expression, root: exp.Expression) -> exp.Expression | None:
    ids = {id(n) for n in _path(b, root)}
    return next((n for n in _path(a, root) if id(n) in ids), None)


_SAMPLE = (exp.Variance, exp.Stddev, exp.StddevSamp)
_POPULATION = (exp.VariancePop, exp.StddevPop)


def sample_and_population(
    root: exp.Expression | None, terms: list[exp.Expression]
) -> tuple[exp.Expression, exp.Expression] | None:
    """A sample and a population variance (or stddev) of one value, in one SELECT.

    ``var_samp(x) / var_pop(x)`` is ``n / (n - 1)``: the exact count. With ``root`` (one
    output expression) any product or quotient of the two kinds is found; without it, two
    of them over the same cell side by side.

    >>> import sqlglot
    >>> t = sqlglot.parse_one("var_samp(x) / var_pop(x)")
    >>> [a.sql() for a in sample_and_population(t, list(t.find_all(exp.AggFunc)))]
    ['VARIANCE_POP(x)', 'VARIANCE(x)']
    >>> t = sqlglot.parse_one("SELECT stddev_samp(x), stddev_pop(x)")
    >>> [a.sql() for a in sample_and_population(None, list(t.find_all(exp.AggFunc)))]
    ['STDDEV_SAMP(x)', 'STDDEV_POP(x)']
    """
    samples = [t for t in terms if isinstance(t, _SAMPLE)]
    pops = [t for t in terms if isinstance(t, _POPULATION)]
    for a in pops:
        for b in samples:
            if root is None:
                if _cell_key(a) == _cell_key(b):
                    return b, a
            elif isinstance(_meet(a, b, root), exp.Mul | exp.Div):
                return a, b
    return None
