"""``unknown-column``: every column exists in a table or subquery of its scope.

Names are suggested from the columns that are in scope, so a typo is one edit away from a
working query. Quoting, case and look-alike characters do not help: DuckDB folds case, and a
homoglyph (Cyrillic ``е``) is a different, unknown name.

>>> from vce.policy.analyze import analyze_default
>>> [v.message for v in analyze_default("SELECT count(DISTINCT author) FROM videos").violations]
["unknown column 'author'; did you mean author_id?"]
>>> analyze_default('SELECT "REGION_CODE", count(*) FROM "Videos" GROUP BY 1').allowed
True
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "unknown-column"
SUMMARY = "columns no table or subquery in scope provides"


def check_facts(c: Check) -> Iterator[Violation]:
    """Report each unresolved column once, with close names."""
    assert c.facts is not None
    seen: set[int] = set()
    for fact in c.facts["unknown_column"]:
        if id(fact.node) in seen:
            continue
        seen.add(id(fact.node))
        near, holders = fact.extra
        if len(holders) > 1:
            yield c.violation(
                RULE,
                f"column {fact.name!r} is ambiguous (in {', '.join(holders)}); prefix it with "
                "its table alias",
                fact.node,
            )
            continue
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        yield c.violation(RULE, f"unknown column {fact.name!r}{hint}", fact.node)
