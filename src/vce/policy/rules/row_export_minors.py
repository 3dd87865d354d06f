"""``row-export-minors``: never row-level export where minors' rows would be read.

In a project approved for under-18 data, trusted execution reads the minors' partitions;
a row-level result would then contain minors' rows, which never leave.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT create_time, view_count FROM videos", u18=True)
['row-export-minors']
>>> rules_of("SELECT create_time, view_count FROM videos", u18=False)
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "row-export-minors"
SUMMARY = "row-level results over people tables in an under-18 project"


def check_facts(c: Check) -> Iterator[Violation]:
    """Row-level results read no people table when minors' partitions are in play."""
    assert c.facts is not None
    if not c.ctx.u18_approved:
        return
    people = sorted(c.facts.tables & c.compiled.people_tables)
    for fact in c.facts["row_level"]:
        if people:
            yield c.violation(
                RULE,
                f"this project reads under-18 data and {', '.join(people)} hold minors' rows; "
                "row-level results may not leave — aggregate with GROUP BY",
                fact.node,
            )
