"""``identifier-comparison``: identifiers are compared only with identifiers, for equality.

Allowed: equi-joins between keys (``v.author_id = u.user_id``), membership in a subquery of
keys (``video_id IN (SELECT id FROM videos WHERE …)``), ``IS [NOT] NULL``. Everything else —
``user_id = 42``, ``<>``/``NOT IN (…)`` differencing, ranges, ``LIKE`` on usernames, an
equi-join under ``NOT``, ``CASE user_id WHEN …`` — picks out chosen people.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(*) FROM videos WHERE author_id <> 12345")
['identifier-comparison']
>>> rules_of("SELECT count(*) FROM videos v JOIN users u ON v.author_id = u.user_id WHERE u.region_code = 'DE'")
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import Kind
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "identifier-comparison"
SUMMARY = "identifiers compared with anything but another key, for equality"
_EQUALITY = {"eq", "nullsafeeq"}


def allowed(op: str, operands: tuple[Kind, ...], negated: bool) -> bool:
    """Whether a comparison ``op`` over ``operands`` is a legitimate use of identifiers.

    >>> allowed("eq", (Kind.KEY, Kind.KEY), False)
    True
    >>> allowed("eq", (Kind.KEY, Kind.CONSTANT), False)
    False
    >>> allowed("eq", (Kind.KEY, Kind.KEY), True)
    False
    """
    if not any(k.identifying for k in operands):
        return True
    if op == "is":
        return True
    if op == "in_subquery":
        return all(k is Kind.KEY for k in operands)
    if op in _EQUALITY and not negated:
        return len(operands) == 2 and all(k is Kind.KEY for k in operands)
    return False


def check_facts(c: Check) -> Iterator[Violation]:
    """Every comparison touching identifiers is allowed."""
    assert c.facts is not None
    for fact in c.facts["compare"]:
        operands, negated = fact.extra
        if fact.name == "order" and not allowed(fact.name, operands, negated):
            yield c.violation(
                RULE,
                f"ordering by {show(fact.node)} ranks people by an identifier; order by an "
                "aggregate or a dimension",
                fact.node,
            )
        elif not allowed(fact.name, operands, negated):
            yield c.violation(
                RULE,
                f"{show(fact.node)} compares an identifier with something other than another "
                "key; identifiers may only be joined (a.author_id = u.user_id) or tested "
                "IS NULL",
                fact.node,
            )
