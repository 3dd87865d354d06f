"""``single-statement``: one export is exactly one query.

Several statements would let a harmless first query vouch for a second one.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(*) FROM videos; SELECT count(*) FROM users")
['single-statement']
>>> rules_of("SELECT count(*) FROM videos;")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "single-statement"
SUMMARY = "zero or several statements"


def check_tree(c: Check) -> Iterator[Violation]:
    """Exactly one statement."""
    if not c.statements:
        yield c.violation(RULE, "the SQL is empty; write one SELECT query")
    elif len(c.statements) > 1:
        yield c.violation(
            RULE,
            f"found {len(c.statements)} statements; submit one query (combine parts with "
            "WITH or UNION ALL)",
            c.statements[1],
        )
