"""``single-value-aggregate``: no aggregate that returns one person's value of a protected column.

``min``, ``max``, ``any_value``, ``first``, ``last``, ``arg_min``/``arg_max``, ``list``,
``array_agg``, ``string_agg``, ``histogram``, ``mode`` … of an identifier, free text or measure
release a value of a single row (the largest view count *is* one video's) — min/max of text
is the classic leak.

>>> from vce.policy.analyze import rules_of
>>> "single-value-aggregate" in rules_of("SELECT region_code, max(follower_count) FROM users GROUP BY 1")
True
>>> rules_of("SELECT region_code, median(follower_count) FROM users GROUP BY 1")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import SINGLE_VALUE_AGGREGATES
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "single-value-aggregate"
SUMMARY = "min/max/first/list/... over identifiers, free text or measures"


def check_facts(c: Check) -> Iterator[Violation]:
    """Single-value aggregates only over dimensions and aggregates."""
    assert c.facts is not None
    for fact in c.facts["aggregate"]:
        if fact.name in SINGLE_VALUE_AGGREGATES and fact.kind.protected:
            yield c.violation(
                RULE,
                f"{show(fact.node)} returns the value of a single row (one person's); use "
                "avg, median, quantiles or binned counts",
                fact.node,
            )
