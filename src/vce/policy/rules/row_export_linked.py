"""``row-export-linked``: row-level results are rows of one table, never rows linked by a person.

The policy lets some tables leave row by row (adult public videos) but never who posted
them. A join links rows to each other: ``videos v1 JOIN videos v2 ON v1.author_id =
v2.author_id`` filtered on one known video releases that author's whole history, though
no released column names the author. ``IN``/``EXISTS`` subqueries and joins to other tables
do the same (every video of the author of a known comment). So a SELECT that returns rows
may read exactly one table instance (through CTEs and derived tables too); only aggregated
scalar subqueries (one value over a counted group, e.g. ``view_count > (SELECT avg(...))``)
may read further tables.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT v2.create_time FROM videos v1 JOIN videos v2 "
...          "ON v1.author_id = v2.author_id WHERE v1.region_code = 'IS'")
['row-export-linked']
>>> rules_of("SELECT create_time, view_count FROM videos WHERE view_count > "
...          "(SELECT avg(view_count) FROM videos)")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "row-export-linked"
SUMMARY = "row-level results built from more than one table (rows linked by a join or subquery)"


def _aggregated_scalar(node: exp.Expression) -> bool:
    """A subquery in an expression that returns one aggregate over its rows (no GROUP BY)."""
    if not isinstance(node, exp.Subquery) or isinstance(node.parent, exp.From | exp.Join):
        return False
    if isinstance(node.parent, exp.In):
        return False
    sel = node.this
    return (
        isinstance(sel, exp.Select)
        and not sel.args.get("group")
        and len(sel.expressions) == 1
        and sel.expressions[0].find(exp.AggFunc) is not None
    )


def _table_reads(node: exp.Expression, ctes: dict[str, exp.Expression], depth: int = 0) -> int:
    """Base-table instances ``node`` reads, following CTE references, skipping scalar aggregates."""
    if depth > 64:  # (CTEs referring to each other: bounded, the parser already limits depth)
        return 2
    count = 0
    stack = [node]
    while stack:
        n = stack.pop()
        if _aggregated_scalar(n):
            continue
        if isinstance(n, exp.CTE):
            continue  # definitions count where they are read
        if isinstance(n, exp.Table) and not isinstance(n.this, exp.Func):
            body = ctes.get(n.name)
            count += 1 if body is None else _table_reads(body, ctes, depth + 1)
            continue
        stack.extend(n.iter_expressions())
    return count


def check_facts(c: Check) -> Iterator[Violation]:
    """Each row-level SELECT reads one table instance."""
    assert c.facts is not None
    for fact in c.facts["row_level"]:
        sel = fact.node
        ctes = {cte.alias_or_name: cte.this for cte in sel.root().find_all(exp.CTE)}
        if _table_reads(sel, ctes) > 1:
            yield c.violation(
                RULE,
                "this SELECT returns rows built from more than one table (a join, IN or EXISTS "
                "links rows to each other, e.g. by their author); export rows of one table "
                "only, or aggregate (GROUP BY ... count(*))",
                sel,
            )
