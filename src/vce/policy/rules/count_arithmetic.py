"""``count-arithmetic``: no count that rounding cannot hide, no product of a count and a statistic.

Counts leave rounded, so ``sum(5)`` (five times a count: rounding to 5 hides nothing) or
``sum(CASE WHEN c THEN 2 ELSE 0 END)`` are denied; write ``count(*)`` / ``count_if(c)`` and scale
the released number. ``avg(x) * count(*)`` (or ``avg(x) / (1.0 / count(*))``) multiplies a
released average back into the sum it averages, a sum whose dominance was never checked;
release ``sum(x)`` itself. Ratios (``sum(x) / count(*)``) and sums of counts stay allowed.
What counts as a count is decided in :mod:`vce.policy.countlike`, shared with the rewrite.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, avg(like_count) * count(*) AS s FROM videos GROUP BY 1")
['count-arithmetic']
>>> rules_of("SELECT region_code, sum(3) AS s FROM videos GROUP BY 1")
['count-arithmetic']
>>> rules_of("SELECT region_code, sum(view_count) / count(*) AS s FROM videos GROUP BY 1")
[]
>>> rules_of("SELECT region_code, sum(view_count) / avg(view_count) AS n FROM videos GROUP BY 1")
['count-arithmetic']
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from sqlglot import exp

from vce.data.schema import TABLES
from vce.policy.countlike import (
    count_product,
    is_constant_sum,
    is_count_aggregate,
    sample_and_population,
    total_and_mean,
    total_over_mean,
)
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "count-arithmetic"
SUMMARY = "sums of constants other than 0/1, products of a count with another statistic"

_STOP = (exp.Query, exp.Having, exp.Where, exp.Order, exp.Group, exp.Subquery, exp.Window)


@cache
def _boolean_columns() -> frozenset[str]:
    return frozenset(
        c for t in TABLES.values() for c, ty in t.columns.items() if ty.upper() == "BOOLEAN"
    )


def is_bool(col: exp.Column) -> bool:
    """Whether ``col`` names a boolean column of the dataset (names are unique across tables)."""
    return col.name in _boolean_columns()


def _root(node: exp.Expression) -> exp.Expression:
    while node.parent is not None and not isinstance(node.parent, _STOP):
        node = node.parent
    return node


def _outermost(node: exp.Expression, root: exp.Expression) -> bool:
    up = node.parent
    while up is not None and up is not root.parent:
        if isinstance(up, exp.AggFunc):
            return False
        up = up.parent
    return True


def check_facts(c: Check) -> Iterator[Violation]:
    """Constant sums, and per output expression every count multiplied with a statistic."""
    assert c.facts is not None
    by_root: dict[int, tuple[exp.Expression, list[exp.Expression]]] = {}
    for fact in c.facts["aggregate"]:
        node = fact.node
        if is_constant_sum(node, is_bool):
            yield c.violation(
                RULE,
                f"{show(node)} is a count times a constant, which rounding cannot hide; use "
                "count(*) or count_if(...) and scale the released count",
                node,
            )
        root = _root(node)
        if _outermost(node, root):
            by_root.setdefault(id(root), (root, []))[1].append(node)
    yield from _hidden_counts(c, by_root)
    for root, terms in by_root.values():
        found = count_product(root, terms, lambda t: is_count_aggregate(t, is_bool))
        if found is not None:
            count, other = found
            yield c.violation(
                RULE,
                f"{show(root)} multiplies the count {show(count)} with {show(other)}, which "
                "rebuilds a total whose checks never ran; release the total itself (sum(...)) "
                "or the two values as separate columns",
                root,
            )


def _hidden_counts(
    c: Check, by_root: dict[int, tuple[exp.Expression, list[exp.Expression]]]
) -> Iterator[Violation]:
    """A sum and an average of one cell (one SELECT), or a sum multiplied/divided by an avg."""
    by_select: dict[int, list[exp.Expression]] = {}
    reported: set[int] = set()
    for root, terms in by_root.values():
        found = total_over_mean(root, terms) or sample_and_population(root, terms)
        if found is not None:
            reported.add(id(found[0].parent_select))
            yield c.violation(
                RULE,
                f"{show(root)} combines {show(found[0])} and {show(found[1])}: a sum over an "
                "average (or a sample over a population variance, n / (n - 1)) gives the "
                "exact count, which leaves only rounded; release one of them with count(*)",
                root,
            )
        for t in terms:
            if t.parent_select is not None:
                by_select.setdefault(id(t.parent_select), []).append(t)
    for sel, aggs in by_select.items():
        pair = (
            None if sel in reported else total_and_mean(aggs) or sample_and_population(None, aggs)
        )
        if pair is not None:
            yield c.violation(
                RULE,
                f"{show(pair[0])} and {show(pair[1])} of the same cell give its exact count "
                "(the sum over the average), which leaves only rounded; release one of them "
                "with count(*)",
                pair[1],
            )
