"""``protected-aggregate``: identifiers and free text are only counted.

``sum(user_id)`` or ``avg(length(text))`` over a small group is a person's id or comment
length; ``count(...)``, ``count(DISTINCT ...)`` and ``approx_count_distinct`` are fine.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, avg(user_id) FROM users GROUP BY 1")
['protected-aggregate']
>>> rules_of("SELECT region_code, count(DISTINCT user_id) FROM users GROUP BY 1")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import SINGLE_VALUE_AGGREGATES, Kind
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "protected-aggregate"
SUMMARY = "aggregates other than COUNT over identifiers or free text"


def check_facts(c: Check) -> Iterator[Violation]:
    """Non-count aggregates take no identifier or free-text argument."""
    assert c.facts is not None
    for fact in c.facts["aggregate"]:
        if fact.extra or fact.name in SINGLE_VALUE_AGGREGATES:
            continue
        if fact.kind >= Kind.FREE_TEXT:
            what = "free text" if fact.kind is Kind.FREE_TEXT else "an identifier"
            yield c.violation(
                RULE,
                f"{show(fact.node)} aggregates {what}; only count(...) / count(DISTINCT ...) "
                "may be applied to it",
                fact.node,
            )
