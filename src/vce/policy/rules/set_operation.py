"""``set-operation``: the result is one SELECT or a UNION of them, not INTERSECT/EXCEPT.

Each UNION branch is checked as a result of its own. EXCEPT/INTERSECT at the top level
difference two results — a released row's meaning then depends on rows that were never
checked. Inside a subquery they are set operations on keys and are fine.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, count(*) FROM users GROUP BY 1 EXCEPT SELECT region_code, count(*) FROM users WHERE is_verified GROUP BY 1")
['set-operation']
>>> rules_of("SELECT 'videos' AS t, count(*) FROM videos UNION ALL SELECT 'comments', count(*) FROM comments")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "set-operation"
SUMMARY = "INTERSECT / EXCEPT at the top level"


def check_facts(c: Check) -> Iterator[Violation]:
    """No INTERSECT / EXCEPT producing the result."""
    assert c.facts is not None
    for fact in c.facts["set_operation"]:
        if fact.extra:
            yield c.violation(
                RULE,
                f"{fact.name.upper()} of two results is not allowed; use WHERE filters or "
                "UNION ALL",
                fact.node,
            )
