"""``identifier-output``: identifiers never leave, raw or computed.

``user_id``, ``username``, and anything computed from them (``user_id % 1000``,
``length(username)``, ``substr(username, 1, 1)``) stay identifiers through CTEs and subqueries.
Count them instead: ``count(DISTINCT author_id)``.

>>> from vce.policy.analyze import rules_of
>>> "identifier-output" in rules_of("WITH t AS (SELECT author_id % 1000 AS bucket FROM videos) SELECT bucket, count(*) FROM t GROUP BY bucket")
True
>>> rules_of("SELECT region_code, count(DISTINCT author_id) AS creators FROM videos GROUP BY region_code")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "identifier-output"
SUMMARY = "identifiers (or values computed from them) in the result"


def check_facts(c: Check) -> Iterator[Violation]:
    """No output column is an identifier."""
    assert c.facts is not None
    for fact in c.facts["output"]:
        if fact.kind.identifying:
            yield c.violation(
                RULE,
                f"output column {show(fact.node.unalias())} is (derived from) an identifier; "
                "identifiers never leave — use count(DISTINCT ...) instead",
                fact.node,
            )
