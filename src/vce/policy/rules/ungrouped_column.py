"""``ungrouped-column``: in a grouped SELECT every column is aggregated or a GROUP BY key.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, age_band, count(*) FROM users GROUP BY region_code")
['ungrouped-column']
>>> rules_of("SELECT region_code, age_band, count(*) FROM users GROUP BY ALL")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "ungrouped-column"
SUMMARY = "columns neither aggregated nor grouped in a grouped SELECT"


def check_facts(c: Check) -> Iterator[Violation]:
    """Each ungrouped column reference, once."""
    assert c.facts is not None
    seen: set[int] = set()
    for fact in c.facts["ungrouped"]:
        if id(fact.node) in seen:
            continue
        seen.add(id(fact.node))
        yield c.violation(
            RULE,
            f"column {fact.name!r} is neither aggregated nor in GROUP BY; add it to GROUP BY "
            "or aggregate it",
            fact.node,
        )
