"""``grouping-sets``: no ROLLUP, CUBE or GROUPING SETS.

Subtotals released next to their cells let a suppressed small cell be recomputed by
subtraction (total minus the other cells).

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, age_band, count(*) FROM users GROUP BY ROLLUP (region_code, age_band)")
['grouping-sets']
>>> rules_of("SELECT region_code, age_band, count(*) FROM users GROUP BY region_code, age_band")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "grouping-sets"
SUMMARY = "ROLLUP, CUBE and GROUPING SETS"


def check_facts(c: Check) -> Iterator[Violation]:
    """Each ROLLUP / CUBE / GROUPING SETS clause."""
    assert c.facts is not None
    seen: set[str] = set()
    for fact in c.facts["grouping_sets"]:
        if fact.name in seen:
            continue
        seen.add(fact.name)
        yield c.violation(
            RULE,
            f"{fact.name.upper().replace('_', ' ')} releases subtotals that undo suppression; "
            "submit the totals as a separate query",
            fact.node,
        )
