"""``select-only``: only SELECT queries; nothing that changes, loads, attaches or configures.

DDL/DML, COPY, ATTACH/DETACH, INSTALL/LOAD, PRAGMA, SET/RESET, CALL, EXPORT/IMPORT, USE,
DESCRIBE/SHOW/SUMMARIZE, SELECT … INTO and PIVOT all fall outside "a query whose result is
checked", and several of them reach files or the network.

>>> from vce.policy.analyze import rules_of
>>> rules_of("ATTACH 'other.duckdb'")
['select-only']
>>> rules_of("COPY (SELECT count(*) FROM videos) TO 'out.csv'")
['select-only']
>>> rules_of("WITH t AS (SELECT region_code FROM users) SELECT region_code, count(*) FROM t GROUP BY 1")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "select-only"
SUMMARY = "statements other than SELECT queries"

_FORBIDDEN = tuple(
    t
    for t in (
        getattr(exp, name, None)
        for name in (
            "DDL", "DML", "Command", "Into", "Pragma", "Set", "Use", "Describe", "Show",
            "Attach", "Detach", "Install", "Copy", "Summarize", "Pivot", "Transaction",
            "Commit", "Rollback", "Export", "Load", "Merge", "Insert", "Update", "Delete",
            "Create", "Drop", "Alter", "Kill", "Refresh", "Analyze", "Grant", "Revoke",
            "Truncate", "TruncateTable", "LoadData", "Cache", "Uncache", "Return",
        )
    )
    if isinstance(t, type)
)  # fmt: skip


def check_tree(c: Check) -> Iterator[Violation]:
    """The statement is a SELECT (or UNION of SELECTs) and contains no other statement."""
    assert c.index is not None
    for statement in c.statements:
        root = statement
        while isinstance(root, exp.Subquery):
            root = root.this
        if not isinstance(root, (exp.Select, exp.SetOperation)):
            yield c.violation(
                RULE,
                f"{statement.key.upper()} statements are not allowed; "
                "an export is one SELECT query",
                statement,
            )
            return
    for node in c.index.all(exp.With):
        if node.args.get("recursive"):
            yield c.violation(
                RULE, "WITH RECURSIVE is not allowed; it can walk from one person to another", node
            )
    for node in c.index.all(*_FORBIDDEN):
        what = "PIVOT" if isinstance(node, exp.Pivot) else node.key.upper()
        hint = " (use GROUP BY with count_if or CASE)" if what == "PIVOT" else ""
        yield c.violation(RULE, f"{what} is not allowed inside an export query{hint}", node)
