"""``table-not-granted``: a project reads only the tables it was granted.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(*) FROM comments", tables={"videos"})
['table-not-granted']
>>> rules_of("SELECT count(*) FROM videos", tables={"videos"})
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.rules.unknown_table import base_tables
from vce.policy.violations import Violation

RULE = "table-not-granted"
SUMMARY = "tables of the policy this project was not granted"


def check_tree(c: Check) -> Iterator[Violation]:
    """Each policy table read is in ``ctx.granted``."""
    granted = c.ctx.granted
    for table in base_tables(c):
        name = table.name.lower()
        if name in c.ctx.policy.tables and name not in granted:
            yield c.violation(
                RULE,
                f"table {name!r} is not granted to this project (granted: "
                f"{', '.join(sorted(granted)) or 'none'}); ask the administrator",
                table,
            )
