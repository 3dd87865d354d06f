"""``too-large``: SQL longer than any real analysis is refused before it is parsed.

Parsing cost grows with the text; a limit keeps a megabyte of SQL from tying up the checker.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(*) FROM videos WHERE " + " OR ".join(["region_code = 'DE'"] * 10000))
['too-large']
>>> rules_of("SELECT count(*) FROM videos WHERE region_code = 'DE'")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "too-large"
SUMMARY = "SQL text larger than MAX_SQL_CHARS"
MAX_SQL_CHARS = 100_000


def check_sql(c: Check) -> Iterator[Violation]:
    """Refuse SQL longer than :data:`MAX_SQL_CHARS` characters."""
    if len(c.sql) > MAX_SQL_CHARS:
        yield c.violation(
            RULE,
            f"the query is {len(c.sql):,} characters long; the limit is {MAX_SQL_CHARS:,}. "
            "Split it into smaller queries.",
        )
