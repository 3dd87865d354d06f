"""``unsupported-syntax``: only SQL constructs the checker understands, an allow-list.

DuckDB keeps adding syntax; a construct the analysis does not model could read data behind
its back (``SELECT #1 FROM users`` is DuckDB for "the first column", ``user_id``). Every node
of the parsed query must be an operator, a function call (checked against the policy's
function allow-list) or one of the query clauses listed here.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT #1, count(*) FROM users GROUP BY 1")
['unsupported-syntax']
>>> rules_of("SELECT age_band, count(*) FROM users GROUP BY 1")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules import select_only
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "unsupported-syntax"
SUMMARY = "SQL constructs outside the checker's grammar allow-list"

_BASES: tuple[type, ...] = (exp.Func, exp.Binary, exp.Unary, exp.Predicate, exp.Connector)
_NAMES = """
Select From Join Where Group Having Qualify Order Ordered Limit Offset Subquery With CTE
TableAlias Table Identifier Column Alias Literal Null Boolean Star Distinct Paren Tuple
Interval DataType DataTypeParam Var Window WindowSpec Filter Union Except Intersect Values
Bracket Rollup Cube GroupingSets Lateral TableSample Lambda Placeholder Parameter Pivot
Unpivot PivotAlias Into Command Copy Pragma Set SetItem Use Describe Show Attach Detach
Install Summarize Insert Update Delete Create Drop Alter Schema ColumnDef Property Properties
Kill Transaction Commit Rollback Merge Export Columns Neg Not IgnoreNulls RespectNulls
WithinGroup
"""
ALLOWED_TYPES: frozenset[type] = frozenset(
    t for t in (getattr(exp, n, None) for n in _NAMES.split()) if isinstance(t, type)
)
"""Clauses and leaves; statements other rules refuse are listed so they get their own
message instead of this one."""


def supported(node: exp.Expression) -> bool:
    """Whether the analysis models ``node``'s type."""
    return type(node) in ALLOWED_TYPES or isinstance(node, _BASES)


def check_tree(c: Check) -> Iterator[Violation]:
    """Each node type outside the allow-list, once per type."""
    assert c.index is not None
    if any(True for _ in select_only.check_tree(c)):
        return  # not a query at all: select-only says so, node by node would be noise
    for t, nodes in c.index.by_type.items():
        if t in ALLOWED_TYPES or issubclass(t, _BASES):
            continue
        yield c.violation(
            RULE,
            f"{show(nodes[0])} ({t.__name__}) is SQL the checker does not support; "
            "rewrite it with plain columns, functions and clauses",
            nodes[0],
        )
