"""``regression-dof``: regressions and correlations over columns as they are.

``regr_intercept(x, least(1, abs(epoch(create_time) - epoch(T))))`` regresses on an indicator
of one row: the intercept is that row's ``x``. Regressions, correlations and covariances are
accepted only over columns as they are (a table's column, or an inner query's column that is
one), and leave only with at least 10 residual degrees of freedom (ACRO's default), counted
on the full data in the trusted pass (:mod:`vce.policy.checks.regression`).

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, regr_slope(view_count, like_count) AS s FROM videos GROUP BY 1")
[]
>>> rules_of("SELECT region_code, corr(view_count, ln(like_count + 1)) AS s FROM videos GROUP BY 1")
['regression-dof']
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.analysable import Definitions
from vce.policy.checks.regression import REGRESSIONS
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "regression-dof"
SUMMARY = "regressions and correlations over computed values, or with too few degrees of freedom"


def _plain(e: exp.Expression | None, define: Definitions) -> bool:
    """Whether ``e`` is a column as it is, also through inner queries' plain columns."""
    for _ in range(50):
        while isinstance(e, exp.Paren):
            e = e.this
        if not isinstance(e, exp.Column):
            return False
        inner = define(e)
        if inner is None:
            return True
        e = inner
    return False


def check_facts(c: Check) -> Iterator[Violation]:
    """Both arguments of every regression, correlation or covariance are plain columns."""
    assert c.facts is not None
    definitions: Definitions | None = None
    for fact in c.facts["aggregate"]:
        node = fact.node
        if not isinstance(node, REGRESSIONS):
            continue
        definitions = definitions or Definitions(node.root())
        bad = [a for a in (node.this, node.expression) if not _plain(a, definitions)]
        if bad:
            yield c.violation(
                RULE,
                f"{show(node)}: {show(bad[0])} is not a column as it is; a regression on a "
                "computed value can single out rows (an indicator of one row gives its value "
                "as the intercept); regress columns as they are, e.g. regr_slope(view_count, "
                "like_count), with a FILTER for subsets",
                node,
            )
