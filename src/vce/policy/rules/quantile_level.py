"""``quantile-level``: a quantile's level is one number strictly between 0 and 1.

``quantile_disc(x, 1.0)`` is the maximum and ``0.0`` the minimum: one row's value. A list of
levels (``[0, 1]``) returns several order statistics at once, one of them an extreme, and a
level computed from the data (``quantile_cont(x, avg(y))``) cannot be reviewed. Levels inside
(0, 1) are released only where enough people lie strictly below and strictly above the value,
checked on the full data (:mod:`vce.policy.checks.order_statistic`); this rule refuses at once
the levels that could never pass, and the forms that check cannot follow.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, quantile_disc(view_count, 1.0) FROM videos GROUP BY 1")
['quantile-level']
>>> rules_of("SELECT region_code, quantile_cont(view_count, [0.1, 0.9]) FROM videos GROUP BY 1")
['quantile-level']
>>> rules_of("SELECT region_code, quantile_cont(view_count, 0.9) FROM videos GROUP BY 1")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "quantile-level"
SUMMARY = "quantile levels that are lists, computed, or not strictly between 0 and 1"

_LEVELED = (exp.PercentileCont, exp.PercentileDisc, exp.Quantile, exp.ApproxQuantile)


def level_of(node: exp.Expression) -> exp.Expression | None:
    """The level argument of a quantile call (``None`` for ``median``).

    >>> import sqlglot
    >>> level_of(sqlglot.parse_one("quantile_disc(x, 0.25)", read="duckdb")).sql()
    '0.25'
    """
    if not isinstance(node, _LEVELED):
        return None
    if isinstance(node.parent, exp.WithinGroup):
        return node.this
    if isinstance(node, exp.Quantile | exp.ApproxQuantile):
        return node.args.get("quantile")
    return node.expression


def _problem(level: exp.Expression | None) -> str | None:
    while isinstance(level, exp.Paren):
        level = level.this
    if level is None:
        return "has no level"
    if isinstance(level, exp.Array):
        return "asks for several levels at once; one quantile per column"
    if not (isinstance(level, exp.Literal) and not level.is_string):
        return "has a level that is not a number literal"
    if not 0 < float(level.this) < 1:
        return "asks for an extreme (level 0 or 1 and beyond are the minimum and maximum)"
    return None


def check_facts(c: Check) -> Iterator[Violation]:
    """Every quantile call's level is a single number literal in (0, 1)."""
    assert c.facts is not None
    for fact in c.facts["aggregate"]:
        if not isinstance(fact.node, _LEVELED):
            continue
        why = _problem(level_of(fact.node))
        if why:
            yield c.violation(
                RULE,
                f"{show(fact.node)} {why}; use a level strictly between 0 and 1, e.g. 0.1 or "
                "0.9 (released only with enough people below and above it)",
                fact.node,
            )
