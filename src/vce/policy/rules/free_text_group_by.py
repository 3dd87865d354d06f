"""``free-text-group-by``: no grouping by free text.

Grouping by a comment's text releases the text as the group label. A keyword flag is fine.

>>> from vce.policy.analyze import rules_of
>>> "free-text-group-by" in rules_of("SELECT text, count(*) FROM comments GROUP BY text")
True
>>> rules_of("SELECT text ILIKE '%fyp%' AS mentions_fyp, count(*) FROM comments GROUP BY 1")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import Kind
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "free-text-group-by"
SUMMARY = "GROUP BY / DISTINCT keys that are free text"


def check_facts(c: Check) -> Iterator[Violation]:
    """No group key is free text."""
    assert c.facts is not None
    for fact in c.facts["group_key"]:
        if fact.kind is Kind.FREE_TEXT:
            yield c.violation(
                RULE,
                f"grouping by {show(fact.node)} (free text) would release the text; group by "
                "a keyword flag such as text ILIKE '%word%'",
                fact.node,
            )
