"""``whole-row``: no ``*``, ``t.*``, ``COLUMNS(…)`` or a table used as a value.

They output every column — identifiers and free text included — without naming them, and
DuckDB turns a bare table alias (``SELECT v FROM videos v``) into a struct of the whole row.
``count(*)`` is fine.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT * FROM videos")
['whole-row']
>>> "whole-row" in rules_of("SELECT to_json(v) FROM videos v")
True
>>> rules_of("SELECT count(*) FROM videos")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "whole-row"
SUMMARY = "star, COLUMNS() and whole-row references"


def check_tree(c: Check) -> Iterator[Violation]:
    """No star outside ``count(*)``, no ``COLUMNS()``."""
    assert c.index is not None
    for node in c.index.all(exp.Star):
        if isinstance(node.parent, exp.Count):
            continue
        yield c.violation(RULE, "* selects whole rows; name the columns you need", node)
    for node in c.index.all(exp.Columns):
        yield c.violation(RULE, "COLUMNS(...) selects columns by pattern; name them", node)


def check_facts(c: Check) -> Iterator[Violation]:
    """No table alias used as a value (a struct of the whole row)."""
    assert c.facts is not None
    for fact in c.facts["whole_row"]:
        yield c.violation(
            RULE,
            f"{fact.name or 'this'} is a whole row (every column of a table); name the columns",
            fact.node,
        )
