"""``too-large``: SQL longer than any real analysis is refused before it is parsed.

Parsing cost grows with the text; a limit keeps a megabyte of SQL from tying up the checker.
After parsing, the number of SELECTs and of expression nodes is bounded as well: thousands
of CTEs fit in 100 kB and would take seconds to qualify.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(*) FROM videos WHERE " + " OR ".join(["region_code = 'DE'"] * 10000))
['too-large']
>>> rules_of("SELECT count(*) FROM videos WHERE region_code = 'DE'")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "too-large"
SUMMARY = "SQL text larger than MAX_SQL_CHARS"
MAX_SQL_CHARS = 32_000
MAX_SELECTS = 64
"""SELECTs (CTEs, subqueries, UNION branches) one query may contain."""
MAX_NODES = 8_000
"""Parsed expression nodes one query may contain."""


def check_sql(c: Check) -> Iterator[Violation]:
    """Refuse SQL longer than :data:`MAX_SQL_CHARS` characters."""
    if len(c.sql) > MAX_SQL_CHARS:
        yield c.violation(
            RULE,
            f"the query is {len(c.sql):,} characters long; the limit is {MAX_SQL_CHARS:,}. "
            "Split it into smaller queries.",
        )


def check_tree(c: Check) -> Iterator[Violation]:
    """Bound the work qualification and analysis do: SELECTs and nodes in the parsed query."""
    assert c.index is not None
    selects = len(c.index.by_type.get(exp.Select, ()))
    nodes = sum(len(v) for v in c.index.by_type.values())
    if selects > MAX_SELECTS:
        yield c.violation(
            RULE,
            f"the query has {selects} SELECTs (CTEs, subqueries, UNION branches); the limit is "
            f"{MAX_SELECTS}. Split it into several exports.",
        )
    elif nodes > MAX_NODES:
        yield c.violation(
            RULE,
            f"the query has {nodes:,} expressions; the limit is {MAX_NODES:,}. "
            "Split it into several exports.",
        )
