"""``correlated-subquery``: no scalar subqueries that run once per outer row.

``(SELECT count(*) FROM comments c WHERE c.author_id = u.user_id)`` is a per-person value.
Correlated EXISTS / IN (a semi-join on keys) are fine.

>>> from vce.policy.analyze import rules_of
>>> "correlated-subquery" in rules_of("SELECT avg((SELECT count(*) FROM comments c WHERE c.author_id = u.user_id)) FROM users u")
True
>>> rules_of("SELECT count(*) FROM users u WHERE EXISTS (SELECT 1 FROM comments c WHERE c.author_id = u.user_id)")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "correlated-subquery"
SUMMARY = "scalar subqueries that refer to the outer query"


def check_facts(c: Check) -> Iterator[Violation]:
    """Each correlated scalar subquery."""
    assert c.facts is not None
    for fact in c.facts["correlated"]:
        yield c.violation(
            RULE,
            "this subquery is computed per outer row (per person); JOIN and GROUP BY instead",
            fact.node,
        )
