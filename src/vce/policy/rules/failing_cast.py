"""``failing-cast``: no ``CAST`` whose failure message would quote a person's value.

When a ``CAST`` cannot convert a value, DuckDB stops the query with an error that quotes the
value (``Could not convert string 'anna_164' to INT32``; ``Type INT128 with value 104857 can't
be cast``). On the full data that value can be a real minor's username, bio or exact sum, and
whether the query fails at all is one bit about the data. The airlock shows engine errors to
reviewers only (:mod:`vce.airlock.projection`); this rule stops the errors at their source:

* a ``CAST`` of an identifier or free text (or anything computed from one) to any type but
  text — compare text with text, or count it;
* a ``CAST`` of a measure or an aggregate to an integer type narrower than ``BIGINT``, which
  overflows on large values.

``TRY_CAST`` returns NULL instead of failing and is not affected; casting a dimension (a flag
to ``INTEGER``, a timestamp to ``DATE``) is allowed.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(DISTINCT cast(username AS INTEGER)) AS n FROM users")
['failing-cast']
>>> rules_of("SELECT CAST(sum(follower_count) AS SMALLINT) AS s FROM users")
['failing-cast']
>>> rules_of("SELECT avg(CAST(is_stem_verified AS INTEGER)) AS s FROM videos")
[]
>>> rules_of("SELECT CAST(sum(follower_count) AS BIGINT) AS s FROM users")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import Kind
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "failing-cast"
SUMMARY = "CASTs whose conversion error would quote an identifier, a text or a number"
TEXT_TYPES = frozenset({"VARCHAR", "TEXT", "STRING"})
NARROW_INTEGERS = frozenset(
    {"TINYINT", "SMALLINT", "INT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER", "INT1", "INT2"}
)


def check_facts(c: Check) -> Iterator[Violation]:
    """Every CAST either cannot fail on a value or casts nothing of a person's."""
    assert c.facts is not None
    for fact in c.facts["cast"]:
        target = fact.name.split("(", 1)[0]
        if fact.kind >= Kind.FREE_TEXT and target not in TEXT_TYPES:
            yield c.violation(
                RULE,
                f"{show(fact.node)} fails on values it cannot convert, and the error would "
                "quote an identifier or a text; compare text with text, or use TRY_CAST",
                fact.node,
            )
        elif fact.kind in (Kind.MEASURE, Kind.AGGREGATE) and target in NARROW_INTEGERS:
            yield c.violation(
                RULE,
                f"{show(fact.node)} overflows on large values, and the error would quote the "
                "value; cast to BIGINT or DOUBLE, or use TRY_CAST",
                fact.node,
            )
