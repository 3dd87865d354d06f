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
            yield c.violation(
                RULE,
                f"function {fact.name}() is not in the policy's allow-list "
                "(see docs/reference/policy-file.md, functions)",
                fact.node,
            )
