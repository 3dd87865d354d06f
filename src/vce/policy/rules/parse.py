"""``parse``: the SQL must be valid DuckDB SQL, a complete query without parameters.

>>> from vce.policy.analyze import rules_of
>>> rules_of("SELECT count(* FROM videos")
['parse']
>>> rules_of("SELECT count(*) FROM videos WHERE region_code = $1")
['parse']
>>> rules_of("select COUNT(*) from VIDEOS -- a comment")
[]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlglot
from sqlglot import exp

from vce.policy.context import DIALECT
from vce.policy.rules._base import Check
from vce.policy.violations import Violation

RULE = "parse"
SUMMARY = "SQL that DuckDB's grammar (as sqlglot reads it) does not accept"


def parse(c: Check) -> Iterator[Violation]:
    """Parse ``c.sql`` into ``c.statements``; yield a violation when it does not parse."""
    log = logging.getLogger("sqlglot")
    level = log.level
    log.setLevel(logging.ERROR)  # "falling back to parsing as a Command": we report it ourselves
    try:
        statements = [s for s in sqlglot.parse(c.sql, read=DIALECT) if s is not None]
    except sqlglot.errors.ParseError as err:
        first = err.errors[0] if err.errors else {}
        desc = first.get("description") or str(err).splitlines()[0]
        yield type(c.violation(RULE, ""))(
            RULE,
            f"the SQL does not parse: {desc}. Check the syntax near this position.",
            first.get("line"),
            first.get("col"),
        )
        return
    except sqlglot.errors.SqlglotError as err:  # tokenizer errors: unterminated strings
        yield c.violation(RULE, f"the SQL does not parse: {str(err).splitlines()[0]}")
        return
    finally:
        log.setLevel(level)
    c.statements = statements


def check_tree(c: Check) -> Iterator[Violation]:
    """Prepared-statement parameters (``$1``, ``?``) have no value in an export."""
    assert c.index is not None
    for node in c.index.all(exp.Placeholder, exp.Parameter):
        yield c.violation(
            RULE,
            f"parameter {node.sql(dialect=DIALECT)} has no value; write the value into the SQL",
            node,
        )
