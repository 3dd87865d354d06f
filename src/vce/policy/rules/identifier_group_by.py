"""``identifier-group-by``: no grouping by identifiers or values derived from them.

One group per person (or per ``user_id % 1000`` bucket, or per first letter of a username)
makes an aggregate a personal value — the nested-aggregation attack. The one exception is a
distribution per person (:mod:`vce.policy.per_person`): an inner query per person whose
values are only bucketed and counted over persons outside, every bucket a counted group.

>>> from vce.policy.analyze import rules_of
>>> "identifier-group-by" in rules_of("SELECT avg(n) FROM (SELECT author_id, count(*) AS n FROM videos GROUP BY author_id) t")
True
>>> rules_of("SELECT region_code, count(*) FROM videos GROUP BY region_code")
[]
>>> rules_of("SELECT least(n, 50) AS videos, count(*) AS creators FROM "
...          "(SELECT author_id, count(*) AS n FROM videos GROUP BY author_id) t GROUP BY 1")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.per_person import is_distribution_key
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "identifier-group-by"
SUMMARY = "GROUP BY / DISTINCT keys that are identifiers"


def check_facts(c: Check) -> Iterator[Violation]:
    """No group key is an identifier."""
    assert c.facts is not None
    for fact in c.facts["group_key"]:
        if fact.kind.identifying and not is_distribution_key(fact.node, c.ctx.policy):
            yield c.violation(
                RULE,
                f"grouping by {show(fact.node)} makes one group per person (it is derived from "
                "an identifier); group by a dimension such as region_code or a date",
                fact.node,
            )
