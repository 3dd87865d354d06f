"""``too-deep``: deeply nested SQL is refused before it is parsed.

A recursive-descent parser recurses once per nesting level; thousands of parentheses would
exhaust the stack. Nesting is measured on the text (strings and comments removed), so the
refusal costs one scan; after parsing, the depth of the expression tree (a chain of 1,000
``OR`` s is 1,000 levels deep) is bounded too, before anything walks it recursively.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT " + "(" * 200 + "1" + ")" * 200)
['too-deep']
>>> rules_of("SELECT count(*) FROM (SELECT region_code FROM (SELECT region_code FROM users))")
[]
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "too-deep"
SUMMARY = "parentheses nested deeper than MAX_DEPTH"
MAX_DEPTH = 40
MAX_AST_DEPTH = 300
"""Deepest parsed expression tree analysed; deeper trees would exhaust Python's stack."""
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_PARENS = str.maketrans("", "", "".join(chr(i) for i in range(32, 127) if chr(i) not in "()"))


def nesting(sql: str) -> int:
    """Deepest parenthesis nesting of ``sql`` outside strings and comments.

    >>> nesting("SELECT f((1)), ')(' -- (((")
    2
    """
    depth = deepest = 0
    for ch in _QUOTED.sub("", sql).translate(_PARENS):
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


def check_tree(c: Check) -> Iterator[Violation]:
    """Refuse expression trees deeper than :data:`MAX_AST_DEPTH` (long AND/OR chains)."""
    assert c.index is not None
    if c.index.max_depth > MAX_AST_DEPTH:
        yield c.violation(
            RULE,
            f"the query's expressions nest {c.index.max_depth} levels deep (long AND/OR "
            f"chains count); the limit is {MAX_AST_DEPTH}. Use IN (...) lists or WITH steps.",
        )


def check_sql(c: Check) -> Iterator[Violation]:
    """Refuse SQL nested deeper than :data:`MAX_DEPTH`."""
    depth = nesting(c.sql)
    if depth > MAX_DEPTH:
        yield c.violation(
            RULE,
            f"the query nests {depth} levels of parentheses; the limit is {MAX_DEPTH}. "
            "Use WITH to name intermediate steps instead of nesting them.",
        )
