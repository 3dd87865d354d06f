"""``measure-group-by``: measures are grouped only when binned.

``GROUP BY view_count`` is close to one group per video; ``floor(view_count / 1000)``,
``round(x, -3)``, ``floor(log10(x + 1))`` or a ``CASE`` band are bins.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT view_count, count(*) FROM videos GROUP BY view_count")
['measure-group-by', 'measure-output']
>>> rules_of("SELECT floor(view_count / 1000) * 1000 AS band, count(*) FROM videos GROUP BY 1")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import Kind
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "measure-group-by"
SUMMARY = "GROUP BY keys that are unbinned measures"


def check_facts(c: Check) -> Iterator[Violation]:
    """No group key is a raw measure."""
    assert c.facts is not None
    for fact in c.facts["group_key"]:
        if fact.kind is Kind.MEASURE:
            yield c.violation(
                RULE,
                f"grouping by the measure {show(fact.node)} needs binning, e.g. "
                f"floor({show(fact.node)} / 100) or floor(log10({show(fact.node)} + 1))",
                fact.node,
            )
