"""``free-text-output``: free text never leaves, not even transformed.

Comments, bios and transcripts identify their authors. ``lower(text)``, ``length(text)`` or
``text LIKE …`` flags stay usable as filters; the text itself does not leave.

>>> from vce.policy.analyze import rules_of
>>> "free-text-output" in rules_of("SELECT upper(bio_description) FROM users")
True
>>> rules_of("SELECT count(*) FROM comments WHERE text ILIKE '%giveaway%'")
[]
"""

from __future__ import annotations

from collections.abc import Iterator

from vce.policy.flow import Kind
from vce.policy.rules._base import Check, show
from vce.policy.violations import Violation

RULE = "free-text-output"
SUMMARY = "free-text columns (or values computed from them) in the result"


def check_facts(c: Check) -> Iterator[Violation]:
    """No output column is free text."""
    assert c.facts is not None
    for fact in c.facts["output"]:
        if fact.kind is Kind.FREE_TEXT:
            yield c.violation(
                RULE,
                f"output column {show(fact.node.unalias())} is free text; filter on it "
                "(ILIKE '%word%') and count instead",
                fact.node,
            )
