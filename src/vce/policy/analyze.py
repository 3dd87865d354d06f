"""The static policy check: SQL + context → :class:`~vce.policy.violations.Decision`.

Pipeline: text limits (size, nesting) → parse (DuckDB dialect) → tree rules (statement kind,
table sources, granted tables, stars …) → qualify every column against the policy's schema →
:class:`~vce.policy.flow.Flow` (column classes through the query) → fact rules. Pure (no I/O)
and cached on ``(sql, context)``; any unexpected failure denies with ``internal-error`` rather
than raising, so a crafted query can never crash the checker into letting it pass.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from vce.policy.context import DIALECT, Context, compile_policy
from vce.policy.flow import Flow
from vce.policy.rules import RULES, parse
from vce.policy.rules._base import Check, TreeIndex
from vce.policy.violations import Decision, Violation

CACHE_SIZE = 4096


def analyze(sql: str, ctx: Context) -> Decision:
    """Decide whether the result of ``sql`` may leave, for the project described by ``ctx``.

    >>> from vce.policy import Context, load_policy
    >>> d = analyze("SELECT region_code, count(*) FROM videos GROUP BY 1", Context(load_policy()))
    >>> d.allowed, sorted(d.tables)
    (True, ['videos'])
    """
    return _cached(sql, ctx)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cached(sql: str, ctx: Context) -> Decision:
    try:
        return _analyze(sql, ctx)
    except RecursionError:
        return Decision(False, [Violation("too-deep", "the query is nested too deeply to check")])
    except Exception as err:  # deny, never crash: the reason is shown to the researcher
        return Decision(
            False,
            [Violation("internal-error", f"the checker could not analyse this query ({err})")],
        )


def _run(c: Check, stage: str) -> list[Violation]:
    out: list[Violation] = []
    for rule in RULES:
        fn = getattr(rule, stage, None)
        if fn is not None:
            out.extend(fn(c))
    return out


def _analyze(sql: str, ctx: Context) -> Decision:
    c = Check(sql=sql, ctx=ctx, compiled=compile_policy(ctx.policy))
    found = _run(c, "check_sql")
    if found:
        return Decision(False, found)
    found = list(parse.parse(c))
    if found:
        return Decision(False, found)
    c.index = TreeIndex(c.statements)
    found = _run(c, "check_tree")
    if found:
        return Decision(False, found)
    tree = c.statements[0]
    while isinstance(tree, exp.Subquery) and not tree.args.get("alias"):
        tree = tree.this
    try:
        tree = qualify(
            tree,
            schema=c.compiled.schema,
            dialect=DIALECT,
            expand_stars=False,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    except SqlglotError as err:
        rule = "unknown-column" if "column" in str(err).lower() else "parse"
        return Decision(False, [Violation(rule, f"{err}; name every column with its table alias")])
    flow = Flow(tree, c.compiled)
    c.facts = flow.facts
    found = _dedupe(_run(c, "check_facts"))
    tables = frozenset(flow.facts.tables)
    return Decision(
        allowed=not found,
        violations=found,
        tables=tables,
        row_level=bool(flow.facts["row_level"]),
        _expression=tree,
    )


def _dedupe(violations: Iterable[Violation]) -> list[Violation]:
    seen: set[Violation] = set()
    out = []
    for v in violations:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def clear_cache() -> None:
    """Forget cached decisions (tests, benchmarks of the cold path)."""
    _cached.cache_clear()


# -- conveniences for doctests, the CLI and notebooks ---------------------------------------
@functools.lru_cache(maxsize=1)
def _default_policy():
    from vce.policy.model import load_policy

    return load_policy()


def analyze_default(sql: str, tables: Iterable[str] | None = None, u18: bool = False) -> Decision:
    """:func:`analyze` under the shipped default policy."""
    granted = None if tables is None else frozenset(tables)
    return analyze(sql, Context(_default_policy(), granted, u18))


def rules_of(sql: str, tables: Iterable[str] | None = None, u18: bool = False) -> list[str]:
    """Sorted ids of the rules ``sql`` violates under the default policy (``[]``: allowed)."""
    return sorted(analyze_default(sql, tables, u18).rules)
