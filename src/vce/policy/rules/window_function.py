"""``window-function``: windows only over grouped rows, never over persons.

``row_number() OVER (PARTITION BY author_id …)`` or ``lag(view_count) OVER (…)`` computes
per-person values. A window over an already grouped result (a share of a weekly total:
``sum(count(*)) OVER (PARTITION BY week)``) is computed before suppression, so it adds up the
groups that are withheld too: ``sum(sum(x)) OVER ()`` minus the released groups' sums is the
withheld groups' sum, one person's value when one person was behind it. Until windows are
computed over the released rows only, every window is denied; shares and totals of released
groups are computed from the release itself.

>>> from vce.policy.analyze import rules_of
>>> "window-function" in rules_of("SELECT count(*) FROM (SELECT row_number() OVER (PARTITION BY author_id ORDER BY create_time) AS rn FROM videos) t WHERE rn = 1")
True
>>> rules_of("SELECT region_code, count(*) * 1.0 / sum(count(*)) OVER () AS share FROM videos GROUP BY 1")
['window-function']
>>> from vce.policy.analyze import analyze_default
>>> "week-over-week" in analyze_default("SELECT date_trunc('week', create_time) AS w, count(*) - lag(count(*)) OVER (ORDER BY date_trunc('week', create_time)) AS d FROM videos GROUP BY 1").violations[0].message
True
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "window-function"
SUMMARY = "window functions (over persons, or over groups that include suppressed ones)"


def check_tree(c: Check) -> Iterator[Violation]:
    """No named WINDOW clauses (their keys are out of sight of the window they serve)."""
    assert c.index is not None
    for select in c.index.all(exp.Select):
        if select.args.get("windows"):
            yield c.violation(
                RULE, "named WINDOW clauses are not supported; inline OVER (...)", select
            )


def check_facts(c: Check) -> Iterator[Violation]:
    """No window: over rows it singles out persons, over groups it sums suppressed ones."""
    assert c.facts is not None
    for fact in c.facts["window"]:
        over_groups, _ranking = fact.extra
        if not over_groups:
            yield c.violation(
                RULE,
                f"{show(fact.node)} runs over individual rows (persons); aggregate with GROUP "
                "BY first and use windows over the groups",
                fact.node,
            )
        elif isinstance(fact.node.this, exp.Lag | exp.Lead):
            yield c.violation(
                RULE,
                f"{show(fact.node)} copies a neighbouring group (last week's) into this row, and "
                "that group may be one withheld for having too few people; release the weekly "
                "groups (GROUP BY date_trunc('week', create_time)) and compute the "
                "week-over-week change from the released rows (pandas: df['n'].diff())",
                fact.node,
            )
        elif fact.kind.protected:
            yield c.violation(
                RULE,
                f"{show(fact.node)} partitions or orders by an identifier, free text or measure",
                fact.node,
            )
        else:
            yield c.violation(
                RULE,
                f"{show(fact.node)} runs over groups, suppressed ones (too few people) included: "
                "its total minus the released groups is a withheld group's value; release the "
                "groups and compute shares or totals from the released rows",
                fact.node,
            )
