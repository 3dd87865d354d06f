"""Distributions per person: an inner query per person, only bucketed and counted outside.

Researchers publish "videos per creator", "comments per user", follower in- and out-degree:
group by the person, then count persons per bucket of that per-person value. Grouping by an
identifier is otherwise refused (``identifier-group-by``: one group per person makes an
aggregate a personal value), but here no per-person value leaves — only how many persons
fall in each bucket, and every bucket is a group of distinct persons that trusted execution
counts and thresholds like any other (the inner rows carry their person as contributor).

:func:`is_distribution_key` accepts an identifier GROUP BY key when *all* of this holds:

* the inner SELECT reads one base table (no join), groups by entity columns of that table
  only (``videos.author_id``, ``follows.following_id``), and outputs those columns and
  aggregates;
* every query reading it (a derived table or a CTE) aggregates, and uses the person column
  only inside ``count(...)`` or in a join's key equality, and the per-person values only in
  its GROUP BY keys (with the outputs that repeat them), its WHERE, or inside ``count``;
* that outer query's outputs are its group keys and counts (no ``avg``/``sum``/``max`` of a
  per-person value, which would lean on one heavy person).
"""

from __future__ import annotations

from sqlglot import exp

from vce.policy.model import Policy


def _inner_table(sel: exp.Select) -> tuple[str, str] | None:
    """(alias, table) when ``sel`` reads exactly one base table, no joins."""
    from_ = sel.args.get("from") or sel.args.get("from_")
    if from_ is None or sel.args.get("joins") or sel.args.get("laterals"):
        return None
    t = from_.this
    if not isinstance(t, exp.Table) or t.args.get("db") or isinstance(t.this, exp.Func):
        return None
    return t.alias_or_name, t.name


def _readers(sel: exp.Select) -> list[tuple[exp.Select, str]] | None:
    """The SELECTs reading ``sel`` and the alias they read it by (None: not a plain source)."""
    parent = sel.parent
    if isinstance(parent, exp.Subquery) and isinstance(parent.parent, exp.From | exp.Join):
        outer = parent.parent.parent
        return [(outer, parent.alias_or_name)] if isinstance(outer, exp.Select) else None
    if isinstance(parent, exp.CTE):
        name = parent.alias_or_name
        out = []
        for t in sel.root().find_all(exp.Table):
            if t.name != name or t.args.get("db"):
                continue
            if not isinstance(t.parent, exp.From | exp.Join):
                return None
            outer = t.parent.parent
            if not isinstance(outer, exp.Select):
                return None
            out.append((outer, t.alias_or_name))
        return out or None
    return None


def _within(node: exp.Expression, root: exp.Expression, kinds: tuple[type, ...]) -> bool:
    up = node.parent
    while up is not None and up is not root:
        if isinstance(up, kinds):
            return True
        up = up.parent
    return False


def _arg_of(node: exp.Expression, sel: exp.Select) -> str | None:
    """Which argument of ``sel`` (``expressions``, ``where``, ``group``, ``joins`` …) holds it."""
    up = node
    while up.parent is not None and up.parent is not sel:
        up = up.parent
    return up.arg_key if up.parent is sel else None


def _outer_ok(outer: exp.Select, alias: str, persons: set[str]) -> bool:
    group = outer.args.get("group")
    keys = {k.sql() for k in group.expressions} if group is not None else set()
    if not keys and not any(p.find(exp.AggFunc) for p in outer.expressions):
        return False  # (rows of the per-person query would leave one by one)
    for p in outer.expressions:
        body = p.unalias()
        if body.sql() in keys:
            continue
        if any(not isinstance(a, exp.Count) for a in body.find_all(exp.AggFunc)):
            return False
        if not body.find(exp.AggFunc):
            return False
    having = outer.args.get("having")
    if having is not None and any(
        not isinstance(a, exp.Count) for a in having.find_all(exp.AggFunc)
    ):
        return False
    for col in outer.find_all(exp.Column):
        if col.table != alias or col.parent_select is not outer:
            continue
        if _within(col, outer, (exp.Count,)):
            continue
        where = _arg_of(col, outer)
        if col.name in persons:
            if where == "joins" and isinstance(col.parent, exp.EQ):
                continue
            return False
        if where == "where" and not col.find_ancestor(exp.Subquery):
            continue
        if where == "group":
            continue
        if where == "expressions":
            top = col
            while top.parent is not None and top.parent is not outer:
                top = top.parent
            if top.unalias().sql() in keys:
                continue
        return False
    return True


def is_distribution_key(key: exp.Expression, policy: Policy) -> bool:
    """Whether identifier group key ``key`` is the person of a per-person distribution."""
    sel = key.parent_select
    if not isinstance(sel, exp.Select) or key.arg_key != "expressions":
        return False
    group = sel.args.get("group")
    if group is None or key.parent is not group:
        return False
    src = _inner_table(sel)
    if src is None:
        return False
    alias, table = src
    tpol = policy.tables.get(table)
    if tpol is None or not tpol.entity:
        return False
    persons: set[str] = set()
    for k in group.expressions:
        if not (isinstance(k, exp.Column) and k.table == alias and k.name in tpol.entity):
            return False
    key_sql = {k.sql() for k in group.expressions}
    for p in sel.expressions:
        body = p.unalias()
        if body.sql() in key_sql:
            persons.add(p.alias_or_name)
        elif not body.find(exp.AggFunc) or body.find(exp.Window):
            return False
    readers = _readers(sel)
    if not readers:
        return False
    return all(_outer_ok(outer, a, persons) for outer, a in readers)
