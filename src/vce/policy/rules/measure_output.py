"""``measure-output``: in a grouped result, measures appear only aggregated.

(A result of plain rows is the business of ``row-level-output``.)

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT region_code, view_count FROM videos GROUP BY region_code, view_count")
['measure-group-by', 'measure-output']
>>> rules_of("SELECT region_code, sum(view_count) FROM videos GROUP BY region_code")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import Kind
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "measure-output"
SUMMARY = "unaggregated measures in a grouped result"


def check_facts(c: Check) -> Iterator[Violation]:
    """Grouped outputs are not raw measures."""
    assert c.facts is not None
    row_outputs = {id(o.node) for f in c.facts["row_level"] for o in f.extra}
    for fact in c.facts["output"]:
        if fact.kind is Kind.MEASURE and id(fact.node) not in row_outputs:
            yield c.violation(
                RULE,
                f"output column {show(fact.node.unalias())} is a per-row measure; aggregate it "
                "(sum, avg, median) or bin it",
                fact.node,
            )
