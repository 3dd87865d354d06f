"""``unknown-table``: every table is one the policy classifies (nearest names suggested).

>>> from vce.policy.analyze import analyze_default
>>> [v.message for v in analyze_default("SELECT count(*) FROM vidoes").violations]
["unknown table 'vidoes'; did you mean videos?"]
>>> analyze_default("SELECT count(*) FROM videos").allowed
True
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.rules.table_source import looks_like_path
from vce.policy.violations import Violation

RULE = "unknown-table"
SUMMARY = "tables the policy does not classify"


def cte_names(c: Check) -> set[str]:
    """Names of every CTE in the query (lower-case, as DuckDB compares them)."""
    assert c.index is not None
    return {cte.alias.lower() for cte in c.index.all(exp.CTE)}


def base_tables(c: Check) -> list[exp.Table]:
    """Table references that name a table (not a CTE, not a function or path)."""
    assert c.index is not None
    ctes = cte_names(c)
    out = []
    for table in c.index.all(exp.Table):
        name = table.name.lower()
        if (
            isinstance(table.this, exp.Identifier)
            and name not in ctes
            and not looks_like_path(name)
        ):
            out.append(table)
    return out


def check_tree(c: Check) -> Iterator[Violation]:
    """Each table name is in the policy."""
    known = c.ctx.policy.tables
    for table in base_tables(c):
        name = table.name.lower()
        if name in known or table.args.get("db") is not None:
            continue
        near = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
        hint = (
            f"; did you mean {', '.join(near)}?"
            if near
            else f"; tables: {', '.join(sorted(known))}"
        )
        yield c.violation(RULE, f"unknown table {table.name!r}{hint}", table)
