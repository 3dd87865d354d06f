"""Anti-joins count the people they exclude (rule ``anti-join``).

``NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = r.reviewer_id AND u.create_time = T)``
keeps every review but one person's: the released total is the whole group's minus that
person's, and the whole group's total is one more query away (issue 14: a minor's product
review and rating came out this way). The people behind the kept rows are counted as usual;
what an anti-join *removes* is not in any released row, so nothing counted it.

The rewrite turns ``NOT EXISTS`` and ``NOT IN (subquery)`` into a LEFT JOIN to the subquery
grouped by its key and the test ``key IS NULL`` (:meth:`vce.policy.rewrite._Rewriter.
_lift_subqueries`). For each such test of the outermost SELECT, a side query reads the same
rows with the test flipped (``key IS NOT NULL``: exactly the rows the anti-join removes) and
counts, per released group, the distinct people behind them — per entity column, of the
outer rows and of the subquery rows that matched them. A group where an anti-join removes
at least one and fewer than the threshold's number of people (the U18 threshold when a
minor is among them) is withheld (:func:`failing`). Removing nobody, or at least the
threshold, moves the value by no single person's contribution alone.

Anti-joins below the outermost SELECT (in a CTE or derived table) would need the removed
people per *output* cell, which the side query cannot name; they are denied, with the
advice to move the test to the outermost query.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlglot import exp

NAME = "anti_join"
PREFIX = "__vce_aj"


@dataclass(frozen=True)
class AntiJoin:
    """One anti-join of the outermost SELECT: the side query counting whom it removes."""

    index: int
    sql: str  # group keys __vce_g<i>, __vce_r<j> (people removed per entity column), __vce_rminor
    columns: int  # how many __vce_r<j>

    def removed_columns(self) -> list[str]:
        """The main query's helper columns holding this anti-join's removed-people counts."""
        return [f"{PREFIX}{self.index}_{j}" for j in range(self.columns)]

    @property
    def minor_column(self) -> str:
        return f"{PREFIX}m{self.index}"


def _distinct_count(e: exp.Expression, kind: str) -> exp.Expression:
    """Distinct ids behind a group: of one id per row (``row``) or of id lists (``set``)."""
    if kind == "row":
        return exp.Count(this=exp.Distinct(expressions=[e.copy()]))
    flat = exp.Anonymous(
        this="list_distinct",
        expressions=[
            exp.Anonymous(
                this="flatten", expressions=[exp.Anonymous(this="list", expressions=[e.copy()])]
            )
        ],
    )
    return exp.Anonymous(this="len", expressions=[flat])


def side_query(
    removed_rows: exp.Select,
    keys: list[exp.Expression],
    ids: list[tuple[exp.Expression, str]],
    minors: list[exp.Expression],
) -> str:
    """SQL counting, per group of ``keys``, the people behind ``removed_rows``' rows.

    ``removed_rows`` is the outermost SELECT with the anti-join's test flipped; ``ids`` the
    entity expressions of its sources (with their kind, ``row`` or ``set``), ``minors`` their
    minor flags. Returns ``__vce_g<i>``, ``__vce_r<j>`` (distinct people of ``ids[j]``) and
    ``__vce_rminor``. (Each count is its own column: sqlglot writes ``least`` for DuckDB as
    NULL when any argument is, which would hide a small count next to an empty one.)
    """
    side = removed_rows.copy()
    for arg in ("order", "limit", "offset", "having", "distinct", "qualify"):
        side.set(arg, None)
    gk = [exp.alias_(k.copy(), f"__vce_g{i}", quoted=True) for i, k in enumerate(keys)]
    counts = [
        exp.alias_(_distinct_count(e, kind), f"__vce_r{j}", quoted=True)
        for j, (e, kind) in enumerate(ids)
    ]
    minor: exp.Expression = exp.false()
    for m in minors:
        minor = exp.Or(
            this=minor,
            expression=exp.Coalesce(
                this=exp.Anonymous(this="bool_or", expressions=[m.copy()]),
                expressions=[exp.false()],
            ),
        )
    side.set(
        "expressions",
        [
            *gk,
            *counts,
            exp.alias_(minor, "__vce_rminor", quoted=True),
        ],
    )
    side.set("group", exp.Group(expressions=[k.copy() for k in keys]) if keys else None)
    return side.sql("duckdb")


def failing(
    removed: list[np.ndarray], minor: np.ndarray, need_adult: int, need_minor: int
) -> np.ndarray:
    """Groups where an anti-join removes 1 .. threshold - 1 people in some entity column.

    ``removed`` holds one count array per entity column.

    >>> m = np.array([False, False, False, False, True])
    >>> failing([np.array([0, 1, 9, 10, 30])], m, 10, 50).tolist()
    [False, True, True, False, True]
    >>> failing([np.array([12, 12]), np.array([0, 3])], m[:2], 10, 50).tolist()
    [False, True]
    """
    need = np.where(minor, need_minor, need_adult)
    fail = np.zeros(len(minor), dtype=bool)
    for r in removed:
        fail |= (r > 0) & (r < need)
    return fail


def left_join_tests(sel: exp.Select) -> list[tuple[str, exp.Expression]]:
    """``LEFT JOIN t ON t.k = … WHERE t.k IS NULL``: (t's alias, the test) for each such join.

    Only a column the ON condition equates with the other side counts: it is NULL exactly on
    the rows that matched nothing, so the kept rows carry nobody from ``t``. An ON with
    anything but key equalities is not an anti-join here (its empty side is then an empty
    cell, withheld): ``AND u.create_time <> T`` would unmatch one chosen person.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT count(*) FROM users u LEFT JOIN product_reviews r "
    ...     "ON r.reviewer_id = u.user_id WHERE r.reviewer_id IS NULL AND u.region_code = 'FR'")
    >>> [(a, t.sql()) for a, t in left_join_tests(q)]
    [('r', 'r.reviewer_id IS NULL')]
    """
    keys: dict[str, set[str]] = {}
    for j in sel.args.get("joins") or []:
        if (j.args.get("side") or "").upper() != "LEFT" or j.args.get("on") is None:
            continue
        alias = j.this.alias_or_name
        on = j.args["on"]
        eqs = on.flatten() if isinstance(on, exp.And) else [on]
        if not all(
            isinstance(e, exp.EQ)
            and isinstance(e.this, exp.Column)
            and isinstance(e.expression, exp.Column)
            for e in eqs
        ):
            continue  # (a condition in ON, ``AND u.create_time <> T``, unmatches one person)
        for eq in eqs:
            for col in (eq.this, eq.expression):
                if isinstance(col, exp.Column) and col.table == alias:
                    keys.setdefault(alias, set()).add(col.name)
    where = sel.args.get("where")
    if where is None or not keys:
        return []
    conjs = where.this.flatten() if isinstance(where.this, exp.And) else [where.this]
    out = []
    for c in conjs:
        c = c.this if isinstance(c, exp.Paren) else c
        if (
            isinstance(c, exp.Is)
            and isinstance(c.expression, exp.Null)
            and isinstance(c.this, exp.Column)
            and c.this.name in keys.get(c.this.table, set())
        ):
            out.append((c.this.table, c))
    return out
