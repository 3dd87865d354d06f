"""``limit-offset``: LIMIT only on the final result, never OFFSET or SAMPLE.

``ORDER BY n DESC LIMIT 20`` (top-20 hashtags) is fine: every released row is still checked.
A LIMIT inside a subquery selects a handful of persons to aggregate over, and OFFSET walks
through rows one at a time; ``USING SAMPLE`` / ``TABLESAMPLE`` picks rows by chance.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT avg(v) FROM (SELECT view_count AS v FROM videos ORDER BY create_time LIMIT 1) t")
['limit-offset']
>>> rules_of("SELECT region_code, count(*) AS n FROM videos GROUP BY 1 ORDER BY n DESC LIMIT 20")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "limit-offset"
SUMMARY = "OFFSET, SAMPLE and LIMIT below the top level"


def check_tree(c: Check) -> Iterator[Violation]:
    """No sampling."""
    assert c.index is not None
    for node in c.index.all(exp.TableSample):
        yield c.violation(
            RULE, "SAMPLE / TABLESAMPLE picks individual rows; aggregate all rows", node
        )


def check_facts(c: Check) -> Iterator[Violation]:
    """LIMIT only at the top, OFFSET nowhere."""
    assert c.facts is not None
    for fact in c.facts["limit"]:
        if fact.name == "offset":
            yield c.violation(RULE, "OFFSET walks through rows one at a time; remove it", fact.node)
        elif not fact.extra:
            yield c.violation(
                RULE,
                "LIMIT inside a subquery selects a few rows (persons) to aggregate; LIMIT only "
                "the final result",
                fact.node,
            )
