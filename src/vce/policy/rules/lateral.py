"""``lateral``: no LATERAL joins.

A lateral subquery runs once per row of the left table — once per person — which turns an
aggregate into a per-person value.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(*) FROM users u, LATERAL (SELECT count(*) AS n FROM videos v WHERE v.author_id = u.user_id) s")
['lateral']
>>> rules_of("SELECT count(*) FROM users u JOIN videos v ON v.author_id = u.user_id")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "lateral"
SUMMARY = "LATERAL subqueries and joins"


def check_tree(c: Check) -> Iterator[Violation]:
    """No :class:`sqlglot.exp.Lateral` node, and no join marked lateral."""
    assert c.index is not None
    for node in c.index.all(exp.Lateral):
        yield c.violation(
            RULE, "LATERAL runs a subquery per row (per person); use a JOIN and GROUP BY", node
        )
