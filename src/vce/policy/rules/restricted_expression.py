"""``restricted-expression``: only forms the engine can analyse inside an aggregate.

``sum(x * least(1, abs(epoch(create_time) - epoch(T))))`` is a condition written as arithmetic:
``sum(x)`` minus it is the value of the one row at ``T``, and no predicate check sees it. An
offset (``CASE WHEN c THEN x + C ELSE C END``) makes contributions equal so dominance passes; a
sum of two columns mixes them. The allow-list is :mod:`vce.policy.analysable` (deny by default);
each denial says why and suggests the analysable form.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, sum(view_count * least(1, like_count)) AS s FROM videos GROUP BY 1")
['restricted-expression']
>>> rules_of("SELECT region_code, sum(view_count + like_count) AS s FROM videos GROUP BY 1")
['restricted-expression']
>>> rules_of("SELECT region_code, avg(ln(view_count + 1)) AS s, sum(view_count * 2) AS d FROM videos GROUP BY 1")
[]
>>> rules_of("SELECT region_code, count(DISTINCT date_trunc('week', create_time)) AS w FROM videos GROUP BY 1")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.additive import ADDITIVE, ADDITIVE_NAMES
from vce.policy.analysable import SUGGESTION, Definitions, problem
from vce.policy.flow import Kind
from vce.policy.rules._base import Check, show
from vce.policy.rules.count_arithmetic import is_bool
from vce.policy.violations import Violation

RULE = "restricted-expression"
SUMMARY = "arithmetic inside aggregates that can act as a condition, an offset or a mix"

# aggregates whose argument is a value (count_if / bool_and take conditions; regressions have
# their own rule, regression-dof)
_VALUE_AGGS = (
    *ADDITIVE,
    exp.Median,
    exp.PercentileCont,
    exp.PercentileDisc,
    exp.Quantile,
    exp.ApproxQuantile,
    exp.Count,
    exp.ApproxDistinct,
)
_COUNTS = (exp.Count, exp.ApproxDistinct)


def value_arguments(node: exp.Expression) -> list[exp.Expression]:
    """The value arguments of an aggregate call (not levels, not conditions).

    >>> import sqlglot
    >>> q = sqlglot.parse_one("quantile_disc(x, 0.5)", read="duckdb")
    >>> [a.sql() for a in value_arguments(q)]
    ['x']
    """
    if isinstance(node.parent, exp.WithinGroup):
        order = node.parent.expression
        items = order.expressions if isinstance(order, exp.Order) else [order]
        return [i.this if isinstance(i, exp.Ordered) else i for i in items]
    if isinstance(node, exp.Anonymous):
        return list(node.expressions) if str(node.name).lower() in ADDITIVE_NAMES else []
    if not isinstance(node, _VALUE_AGGS):
        return []
    arg = node.this
    if isinstance(arg, exp.Star) or arg is None:
        return []
    if isinstance(arg, exp.Distinct):
        return list(arg.expressions)
    return [arg]


def check_facts(c: Check) -> Iterator[Violation]:
    """Every aggregate's value argument is an analysable form."""
    assert c.facts is not None
    definitions: Definitions | None = None
    for fact in c.facts["aggregate"]:
        args = value_arguments(fact.node)
        if not args:
            continue
        if isinstance(fact.node, _COUNTS) and fact.kind <= Kind.DIMENSION:
            # count(DISTINCT date_trunc('week', t)): a count of dimension values, rounded; the
            # expression only decides which rows are alike, it adds no one's value
            continue
        if definitions is None:
            root = fact.node.root()
            definitions = Definitions(root)
        if _distinct_additive(fact.node):
            yield c.violation(
                RULE,
                f"{show(fact.node)}: a sum or average of DISTINCT values is not a sum of "
                "people's contributions, so no check can bound one person's share; use e.g. "
                "sum(x) without DISTINCT (count(DISTINCT …) stays allowed)",
                fact.node,
            )
            continue
        for arg in args:
            why = problem(arg, definitions, is_bool)
            if why is not None:
                yield c.violation(
                    RULE,
                    f"{show(fact.node)}: {why}; inside an aggregate the engine analyses only a "
                    f"column, a transform of one measure or a cell ({SUGGESTION})",
                    fact.node,
                )


def _distinct_additive(node: exp.Expression) -> bool:
    """``sum(DISTINCT x)``, ``avg(DISTINCT x)``, ``stddev(DISTINCT x)`` …: not analysable."""
    return isinstance(node, ADDITIVE) and isinstance(node.this, exp.Distinct)
