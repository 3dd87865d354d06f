"""``function-not-allowed``: functions come from the policy's allow-list, never a deny-list.

DuckDB has hundreds of functions; some read files (``read_text``), the environment
(``getenv``, ``current_setting``) or return one row's value (``string_agg``). Only what the
policy lists under ``functions`` may be called. Lambdas (``x -> …``) are not allowed either.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT hash(region_code), count(*) FROM users GROUP BY 1")
['function-not-allowed']
>>> rules_of("SELECT date_trunc('week', create_time) AS week, count(*) FROM videos GROUP BY 1")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "function-not-allowed"
SUMMARY = "functions outside the policy's allow-list"


def typed_name(c: Check, node: exp.Expression) -> str | None:
    """The function name as the researcher typed it, from the parser's token position."""
    meta = node.meta if node._meta else None
    if not meta or "start" not in meta or "end" not in meta:
        return None
    text = c.sql[meta["start"] : meta["end"] + 1]
    return text if text.replace("_", "").isalnum() else None


def display_name(node: exp.Expression, fallback: str) -> str:
    """The name DuckDB spells ``node``'s function with (``string_agg``, not sqlglot's)."""
    try:
        text = node.sql(dialect="duckdb")
    except Exception:  # rendering is best effort, for the message only
        return fallback
    head = text.split("(", 1)[0].strip()
    return head.lower() if head and head.replace("_", "").isalnum() else fallback


def check_tree(c: Check) -> Iterator[Violation]:
    """No lambda expressions."""
    assert c.index is not None
    for node in c.index.all(exp.Lambda):
        yield c.violation(RULE, "lambda functions (x -> ...) are not allowed", node)


def check_facts(c: Check) -> Iterator[Violation]:
    """Every function call is allowed by the policy."""
    assert c.facts is not None
    for fact in c.facts["function"]:
        if not fact.extra:
            name = typed_name(c, fact.node) or display_name(fact.node, fact.name)
            yield c.violation(
                RULE,
                f"function {name}() is not in the policy's allow-list "
                "(see docs/reference/policy-file.md, functions)",
                fact.node,
            )
