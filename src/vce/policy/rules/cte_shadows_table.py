"""``cte-shadows-table``: a CTE or subquery alias may not reuse a table's name.

``WITH videos AS (SELECT … FROM users)`` makes every later ``videos`` mean something else;
checkers (and reviewers) that read names would be fooled.

>>> from vce.policy.analyze import rules_of
>>> rules_of("WITH videos AS (SELECT region_code FROM users) SELECT region_code, count(*) FROM videos GROUP BY 1")
['cte-shadows-table']
>>> rules_of("WITH v AS (SELECT region_code FROM videos) SELECT region_code, count(*) FROM v GROUP BY 1")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "cte-shadows-table"
SUMMARY = "CTEs or derived tables named like a table"


def check_tree(c: Check) -> Iterator[Violation]:
    """No CTE or aliased subquery carries a policy table's name."""
    assert c.index is not None
    tables = set(c.ctx.policy.tables)
    for node in c.index.all(exp.CTE, exp.Subquery):
        alias = node.alias.lower()
        if alias and alias in tables:
            yield c.violation(
                RULE, f"{alias!r} is a table name; give the {node.key.upper()} another name", node
            )
