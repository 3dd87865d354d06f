"""``row-level-output``: a result of plain rows only from the policy's ``row_export`` columns.

Every released row must be a group (aggregates and GROUP BY dimensions) unless the policy
allows row-by-row export of adult public content for that table and those columns
(``videos``: counts, durations, dates, hashtags — never who posted). A scalar subquery that
is not aggregated hands one row's value to the rest of the query, so it is refused too.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, age_band FROM users")
['row-level-output']
>>> rules_of("SELECT create_time, view_count, hashtag_names FROM videos WHERE region_code = 'DE'")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import Kind
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "row-level-output"
SUMMARY = "plain rows outside the row_export columns"


def check_facts(c: Check) -> Iterator[Violation]:
    """Row-level results use only row-exportable columns of row-exportable tables."""
    assert c.facts is not None
    for fact in c.facts["row_subquery"]:
        yield c.violation(
            RULE,
            "this scalar subquery returns the value of a single row (a person's); aggregate "
            "inside it (count, avg ...)",
            fact.node,
        )
    tables = c.ctx.policy.tables
    for fact in c.facts["row_level"]:
        closed = sorted(
            t for t in c.facts.tables if t in tables and not tables[t].row_export_columns
        )
        if closed:
            yield c.violation(
                RULE,
                f"this SELECT returns individual rows, and {', '.join(closed)} may not be "
                "exported row by row; aggregate (GROUP BY ... count(*))",
                fact.node,
            )
            continue
        for out in fact.extra:
            if out.kind >= Kind.FREE_TEXT:  # reported by their own rules
                continue
            lineage = out.extra
            bad = [
                f"{t}.{col}"
                for t, col in sorted(lineage)
                if col not in tables[t].row_export_columns
            ]
            if bad or not lineage:
                what = ", ".join(bad) if bad else "a constant"
                yield c.violation(
                    RULE,
                    f"output {show(out.node.unalias())} ({what}) may not be exported row by "
                    "row; aggregate it or choose row_export columns",
                    out.node,
                )
