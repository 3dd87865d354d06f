"""``join-kind``: NATURAL, ASOF and POSITIONAL joins are not allowed.

A NATURAL join compares every same-named column (identifiers included) without saying so;
ASOF matches on inequalities; POSITIONAL pairs rows by their order — all three can pair one
person's rows with another's in ways the key rules cannot see.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(*) FROM videos v POSITIONAL JOIN users u")
['join-kind']
>>> rules_of("SELECT count(*) FROM videos v JOIN users u ON v.author_id = u.user_id")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "join-kind"
SUMMARY = "NATURAL, ASOF and POSITIONAL joins"
_BAD = {"NATURAL", "ASOF", "POSITIONAL"}


def check_tree(c: Check) -> Iterator[Violation]:
    """Joins are INNER/LEFT/RIGHT/FULL/CROSS/SEMI/ANTI with explicit conditions."""
    assert c.index is not None
    for join in c.index.all(exp.Join):
        words = {str(join.args.get(k) or "").upper() for k in ("method", "kind", "side")}
        bad = words & _BAD
        if bad:
            yield c.violation(
                RULE,
                f"{'/'.join(sorted(bad))} JOIN is not allowed; join with ON a.key = b.key",
                join,
            )
