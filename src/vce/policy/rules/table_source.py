"""``table-source``: FROM names policy tables, never files, table functions or other catalogs.

``read_parquet``, ``glob``, ``query``, ``query_table``, ``range``, ``'data.parquet'`` and
``other_db.videos`` would read data the policy does not describe (or describe it twice).

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(*) FROM read_parquet('/data/videos/*/*.parquet')")
['table-source']
>>> rules_of("SELECT count(*) FROM 'videos.parquet'")
['table-source']
>>> rules_of("SELECT count(*) FROM videos AS v")
[]
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "table-source"
SUMMARY = "table functions, file paths and qualified names in FROM"
_PATHLIKE = re.compile(r"[./\\*?:~]")


def looks_like_path(name: str) -> bool:
    """Whether a table name is really a file path or glob (``'videos.parquet'``)."""
    return bool(_PATHLIKE.search(name))


def check_tree(c: Check) -> Iterator[Violation]:
    """Every table reference is a bare table name."""
    assert c.index is not None
    for table in c.index.all(exp.Table):
        target = table.this
        if isinstance(target, exp.Func) or not isinstance(target, exp.Identifier):
            yield c.violation(
                RULE,
                f"table function {show(target)} is not allowed; read the granted tables by name",
                table,
            )
        elif table.args.get("db") is not None or table.args.get("catalog") is not None:
            yield c.violation(
                RULE,
                f"qualified table name {show(table)} is not allowed; write the bare table name",
                table,
            )
        elif _PATHLIKE.search(table.name):
            yield c.violation(
                RULE,
                f"{table.name!r} looks like a file path; only the granted tables may be read",
                table,
            )
    for node in c.index.all(exp.Unnest):
        if isinstance(node.parent, (exp.From, exp.Join, exp.Table)):
            yield c.violation(
                RULE,
                "unnest in FROM is not supported; write SELECT unnest(hashtag_names) AS tag "
                "in a subquery instead",
                node,
            )
