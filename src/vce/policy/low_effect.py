"""Low-effect conditions: a condition that narrows a cell removes no one or at least a threshold.

``count(*) FILTER (WHERE create_time <> T)`` next to ``count(*)``, ``WHERE NOT (…)`` or an
``IN`` list leaving out one account: each releases a cell that differs from the cell *without
the condition* by one person, and the two (in one result, or with an earlier release) give
that person's value by subtraction. As in Diffix's low-effect detection, every condition is
dropped in turn and the cell is compared with the cell without it; here the comparison is
exact, on the full extracts, in the trusted pass.

What a *condition* is: every term of the boolean tree of every ``WHERE``, ``HAVING`` below
the outermost SELECT, non-key ``JOIN … ON`` term, ``FILTER``, and ``CASE``/``IF`` condition
inside an aggregate, at every level of the query (CTEs, derived tables, ``[NOT] EXISTS`` and
``IN`` subqueries), composite terms included (``NOT (a AND b)`` as a whole as well as ``a``
and ``b``), and each element of an ``IN`` / ``NOT IN`` list. *Dropping* a term replaces it
by the value that makes it irrelevant where it stands (TRUE under AND, FALSE under OR,
flipped under each NOT); an aggregate's ``FILTER`` or ``CASE`` condition is moved into its
scope's ``WHERE`` to make its cell a query of its own, compared with the query without it.
Key equalities (``a.id = b.video_id``) are not conditions: they link rows, they do not
select people.

What an *entity* is: a person, as the policy's entity columns name them
(``videos.author_id``, ``follows.follower_id`` …), compared per entity column like the
threshold. For every released cell and every condition, the entities in exactly one of the
two cells (with and without the condition) are counted exactly; a count between 1 and the
threshold minus one (the U18 threshold when any of them is a minor) suppresses the cell.

How: every variant is the query with one term dropped, rewritten by the contributor rewrite
(:mod:`vce.policy.rewrite`) to carry each group's exact entity-id lists; all variants run as
one statement, their ids are unnested once and each (cell, entity) row records which
variants hold it. Cells are matched to released rows by the outermost GROUP BY keys. What
cannot be matched that way (conditions under a top-level UNION ALL, cells whose keys are not
all output) is denied, as is a query with more variants than :data:`MAX_VARIANTS`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from vce.data.schema import TABLES
from vce.policy.model import ColumnClass, Policy
from vce.policy.rewrite import (
    ContributorsUnknown,
    _cell_conditions,
    _distinct_union_as_select,
    _Rewriter,
    dataset_schema,
)

NAME = "low_effect"
RULE = "low-effect"
MAX_VARIANTS = 64  # queries (each about the cost of the query itself) one check may run
PREFIX = "__vce_le"

_CONNECTIVES = (exp.And, exp.Or)


class LowEffectUnanalysable(ValueError):
    """The effect of a condition cannot be computed exactly: the query is denied."""

    rule = RULE


@dataclass(frozen=True)
class Comparison:
    """One condition: the query with it (``base``) and without it (``variant``)."""

    condition: str  # the condition's SQL, for messages
    base: int  # index of the query variant holding the condition
    variant: int  # index of the query variant without it


@dataclass
class Plan:
    """The side queries of one analysed query and how to read their rows.

    Each returns one row per cell: the group keys ``__vce_leg<i>``, then one flag per
    comparison, TRUE where it changes the cell by 1 … threshold − 1 entities.
    """

    queries: list[tuple[str, list[Comparison]]]
    key_positions: list[int]  # output positions of the outermost GROUP BY keys

    @property
    def n_keys(self) -> int:
        return len(self.key_positions)


@dataclass
class Outcome:
    """What the check did to a result."""

    kept: list[pa.RecordBatch]
    suppressed: int = 0
    checked: int = 0
    reasons: list[str] = field(default_factory=list)


# -- conditions ------------------------------------------------------------------------------


def _path(node: exp.Expression, root: exp.Expression) -> tuple[tuple[str, int | None], ...]:
    """Where ``node`` sits under ``root``: (arg key, list index) steps, for a copy of the tree."""
    steps = []
    while node is not root:
        parent = node.parent
        if parent is None:
            raise LowEffectUnanalysable("a condition outside the query")
        value = parent.args.get(node.arg_key)
        steps.append((node.arg_key, node.index if isinstance(value, list) else None))
        node = parent
    return tuple(reversed(steps))


def _at(root: exp.Expression, path: tuple[tuple[str, int | None], ...]) -> exp.Expression:
    node = root
    for key, index in path:
        value = node.args[key]
        node = value[index] if index is not None else value
    return node


def _neutral(term: exp.Expression) -> exp.Expression:
    """The literal that makes ``term`` irrelevant where it stands (see the module doc)."""
    flips = 0
    up = term.parent
    while isinstance(up, exp.Paren | exp.Not):
        flips += isinstance(up, exp.Not)
        up = up.parent
    want = not isinstance(up, exp.Or)  # TRUE under AND and at a condition's root
    return exp.Boolean(this=want != bool(flips % 2))


def _terms(cond: exp.Expression, keys: set[str], itself: bool = True) -> Iterator[exp.Expression]:
    """Every droppable term of a boolean tree: composites, leaves, and IN-list elements.

    (The operand of a NOT is not one of its own: dropping it is dropping the NOT.)

    >>> w = sqlglot.parse_one("SELECT 1 FROM t WHERE a = 1 AND NOT (b = 2 OR c IN (3, 4))")
    >>> terms = list(_terms(w.args["where"].this, set()))
    >>> [t.sql() for t in terms][:3]
    ['a = 1 AND NOT (b = 2 OR c IN (3, 4))', 'a = 1', 'NOT (b = 2 OR c IN (3, 4))']
    >>> [t.sql() for t in terms][3:]
    ['b = 2', 'c IN (3, 4)', '3', '4']
    >>> [_neutral(t).sql() for t in terms[:5]]  # TRUE under AND, FALSE under OR
    ['TRUE', 'TRUE', 'TRUE', 'FALSE', 'FALSE']
    >>> [t.sql() for t in _terms(sqlglot.parse_one("c.video_id = v.id AND c.x > 3"), {"id"})]
    ['c.x > 3']
    """
    node = cond
    while isinstance(node, exp.Paren):
        node = node.this
    if _links_rows(node, keys):
        if isinstance(node, exp.And):  # ``a.k = b.k AND x``: x is still a condition
            yield from _terms(node.left, keys)
            yield from _terms(node.right, keys)
        return
    if itself:
        yield node
    if isinstance(node, _CONNECTIVES):
        yield from _terms(node.left, keys)
        yield from _terms(node.right, keys)
    elif isinstance(node, exp.Not):
        yield from _terms(node.this, keys, itself=False)
    elif isinstance(node, exp.In) and len(node.expressions) > 1:
        yield from node.expressions


def _links_rows(node: exp.Expression, keys: set[str]) -> bool:
    """A term holding a key equality (``c.video_id = v.id``): it joins, it selects no one.

    Equalities inside a subquery of the term belong to that subquery (a correlated EXISTS is
    a condition of the outer rows; its correlation is a term of its own WHERE). Only a
    conjunct joins: under NOT, OR or any other operator a key equality is part of a condition
    (``NOT (user_id = user_id AND create_time = T)`` selects all but one person).

    >>> _links_rows(sqlglot.parse_one("c.video_id = v.id AND c.x > 3"), {"id"})
    True
    >>> _links_rows(sqlglot.parse_one("NOT (u.user_id = u.user_id AND u.t = 1)"), {"user_id"})
    False
    """
    for eq in node.find_all(exp.EQ):
        if not all(isinstance(a, (exp.And, exp.Paren)) for a in _between(eq, node)):
            continue
        if eq is not node and not isinstance(node, (exp.And, exp.Paren)):
            continue
        a, b = eq.this, eq.expression
        if (
            isinstance(a, exp.Column)
            and isinstance(b, exp.Column)
            and (a.name in keys or b.name in keys)
        ):
            return True
    return False


def _between(node: exp.Expression, root: exp.Expression) -> Iterator[exp.Expression]:
    up = None if node is root else node.parent
    while up is not None and up is not root:
        yield up
        up = up.parent


def _identifier_names(policy: Policy) -> set[str]:
    return {
        c
        for t in policy.tables.values()
        for c, cp in t.columns.items()
        if cp.cls is ColumnClass.IDENTIFIER
    }


def _selects(tree: exp.Expression) -> Iterator[exp.Select]:
    yield from tree.find_all(exp.Select)


def _scope_conditions(sel: exp.Select, outermost: bool) -> Iterator[exp.Expression]:
    """Roots of the row conditions of one SELECT (its WHERE, HAVING below the top, ON)."""
    where = sel.args.get("where")
    if where is not None:
        yield where.this
    having = sel.args.get("having")
    if having is not None and not outermost:  # a group filter: a released group is unchanged
        yield having.this
    for j in sel.args.get("joins") or []:
        if j.args.get("on") is not None:
            yield j.args["on"]


def _strip_top(tree: exp.Expression) -> None:
    """The outermost HAVING, ORDER BY and LIMIT choose cells, they do not change them."""
    for arg in ("having", "order", "limit", "offset"):
        if arg in tree.arg_types:
            tree.set(arg, None)


def _and_where(sel: exp.Select, cond: exp.Expression) -> None:
    where = sel.args.get("where")
    cell = exp.paren(cond.copy())
    # a plain AND, no parentheses around the WHERE: the rewrite lifts [NOT] EXISTS conjuncts
    new = cell if where is None else exp.And(this=where.this.copy(), expression=cell)
    sel.set("where", exp.Where(this=new))


# -- the plan --------------------------------------------------------------------------------


def _key_positions(top: exp.Select) -> list[int]:
    group = top.args.get("group")
    projections = [p.unalias() for p in top.expressions]
    if group is None:
        return []
    if group.args.get("all"):
        return [i for i, p in enumerate(projections) if not p.find(exp.AggFunc)]
    if any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets")):
        raise LowEffectUnanalysable(
            "conditions with ROLLUP/CUBE/GROUPING SETS cannot be checked for their effect; "
            "list the GROUP BY keys"
        )
    sqls = [p.sql("duckdb") for p in projections]
    out = []
    for k in group.expressions:
        if k.sql("duckdb") not in sqls:
            raise LowEffectUnanalysable(
                f"the GROUP BY key {k.sql('duckdb')[:60]} is not an output, so the effect of "
                "the query's conditions on each released row cannot be matched; output it"
            )
        out.append(sqls.index(k.sql("duckdb")))
    return out


def _variant_sql(
    tree: exp.Expression, policy: Policy, minors: bool, keys: list[int]
) -> tuple[str, list[str], list[str], list[str]]:
    """One variant as a query of its cells.

    Its group keys, each entity column's id list (a count for a scalar subquery's), and
    whether a minor is among them (per table). Returns the SQL, the id-list columns, SQL for
    each entity column's number of people, and the minor flags.
    """
    tree = tree.transform(_distinct_union_as_select)
    rw = _Rewriter(policy, minors)
    layout = rw.query(tree, {}, top=False)
    assert isinstance(tree, exp.Select)
    names = [p.alias_or_name for p in tree.expressions]
    cols = [f'"{PREFIX}".{_q(names[p])} AS "{PREFIX}g{i}"' for i, p in enumerate(keys)]
    lists = sorted(n for n, s in layout.slots.items() if s.kind == "set")
    counts = sorted(n for n, s in layout.slots.items() if s.kind == "fixed")  # scalars'
    flags = sorted(layout.flags)
    cols += [f'"{PREFIX}".{_q(s)} AS {_q(s)}' for s in [*lists, *counts, *flags]]
    sizes = [f"len({_q(s)})" for s in lists] + [_q(s) for s in counts]
    sql = f'SELECT {", ".join(cols)} FROM ({tree.sql("duckdb")}) AS "{PREFIX}"'
    return sql, lists, sizes, flags


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _Edit:
    """One condition to drop: where it is, and in which mode its effect is counted."""

    condition: str
    scope: tuple[tuple[str, int | None], ...]  # path of the SELECT it narrows
    term: tuple[tuple[str, int | None], ...] | None  # path of the term (of the tree or cell)
    cell: exp.Expression | None = None  # the aggregate's condition, for FILTER / CASE cells
    clause: tuple[tuple[str, int | None], ...] | None = None  # root of the WHERE/HAVING/ON
    outer_join: bool = False  # the ON of an outer join: its rows stay, unmatched
    size: bool = False  # count the cell's own people, not the ones the condition moves


def _edits(tree: exp.Expression, top: exp.Expression, keys: set[str]) -> list[_Edit]:
    out = []
    for sel in _selects(tree):
        scope = _path(sel, tree)
        for root in _scope_conditions(sel, sel is top):
            clause = _path(root, tree)
            outer = root.arg_key == "on" and bool(root.parent.args.get("side"))
            for term in _terms(root, keys):
                text = term.sql("duckdb")
                out.append(_Edit(text, scope, _path(term, tree), None, clause, outer))
        for cond, counted in _cells(sel, sel is top):
            text = cond.sql("duckdb")
            if not counted:  # the cell itself: 0 or at least the threshold's people
                out.append(_Edit(f"{text} (the people of its cell)", scope, None, cond, size=True))
            out.append(_Edit(text, scope, None, cond))
            for term in _terms(cond, keys):
                if term is not _unparen(cond):
                    out.append(_Edit(term.sql("duckdb"), scope, _path(term, cond), cond))
    return out


@functools.lru_cache(maxsize=256)
def plan(sql: str, policy: Policy, minors_possible: bool, people: tuple[str, ...]) -> Plan | None:
    """The side queries comparing every released cell with each condition dropped.

    Cached: it depends on the SQL and the policy only, like the rewrite.

    ``None`` when the query has no condition (or releases rows, not cells). ``people`` are
    the people tables the query reads (whose minors' ids are looked up).
    """
    try:
        tree = qualify(
            sqlglot.parse_one(sql, dialect="duckdb"), schema=dataset_schema(), dialect="duckdb"
        )
    except sqlglot.errors.SqlglotError as e:
        raise LowEffectUnanalysable(f"query could not be qualified: {e}") from e
    top = tree
    while isinstance(top, exp.Subquery):
        top = top.this
    edits = _edits(tree, top, _identifier_names(policy))
    if not edits:
        return None
    if _row_export(top, tree, policy):
        return None  # rows of one table leave one by one: each is one person's, checked as such
    if not isinstance(top, exp.Select):
        raise LowEffectUnanalysable(
            "conditions under a top-level UNION ALL cannot be matched to released cells; "
            "export each branch as its own query"
        )
    aggregating = bool(top.args.get("group")) or any(
        a.parent_select is top for p in top.expressions for a in p.find_all(exp.AggFunc)
    )
    no_from = not (top.args.get("from") or top.args.get("from_"))  # one row of scalars: a cell
    if not aggregating and not no_from:
        if any(s.args.get("group") or s.find(exp.AggFunc) for s in _selects(top) if s is not top):
            raise LowEffectUnanalysable(
                "conditions inside a query whose outermost SELECT does not GROUP BY cannot be "
                "matched to released cells; aggregate in the outermost SELECT"
            )
        return None  # row-level export: each row is one person's, checked row by row
    positions = _key_positions(top)
    entities = _flat_entities(top, tree, policy)
    rows, sets = [], []
    for e in edits:
        (rows if entities is not None and _in_top_where(e, top, tree) else sets).append(e)
    queries = []
    if rows:
        assert entities is not None
        queries.append(_row_query(tree, top, rows, entities, positions, policy, minors_possible))
    if sets:
        delta, sets = _delta_query(tree, sets, positions, policy, minors_possible)
        queries.append(delta)
    if sets:
        queries.append(_set_query(tree, sets, positions, people, policy, minors_possible))
    return Plan(queries, positions)


def _row_export(q: exp.Expression, tree: exp.Expression, policy: Policy) -> bool:
    """Whether ``q`` releases base-table rows as they are (every UNION ALL branch too)."""
    if isinstance(q, exp.Union):
        return _row_export(q.left, tree, policy) and _row_export(q.right, tree, policy)
    if isinstance(q, exp.Subquery):
        return _row_export(q.this, tree, policy)
    if not isinstance(q, exp.Select) or q.args.get("group") or q.args.get("distinct"):
        return False
    if any(a.parent_select is q for p in q.expressions for a in p.find_all(exp.AggFunc)):
        return False
    return _flat_entities(q, tree, policy) is not None


def _in_top_where(e: _Edit, top: exp.Select, tree: exp.Expression) -> bool:
    """Whether ``e`` narrows the outermost SELECT's rows: counted row by row.

    Its WHERE (also inside [NOT] EXISTS and IN subqueries there) or its own FILTER / CASE
    cells.
    """
    if e.cell is not None:
        return _at(tree, e.scope) is top
    assert e.term is not None
    node = _at(tree, e.term)
    where = top.args.get("where")
    while node is not None and node is not top:
        if node is where:
            return True
        node = node.parent
    return False


def _flat_entities(
    top: exp.Select, tree: exp.Expression, policy: Policy
) -> list[tuple[str, str]] | None:
    """(alias, entity column) of the outermost SELECT's sources, when all are base tables."""
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    from_ = top.args.get("from") or top.args.get("from_")
    if from_ is None:
        return None
    out = []
    for src in [from_.this, *(j.this for j in top.args.get("joins") or [])]:
        if not isinstance(src, exp.Table) or src.name in ctes or src.name not in TABLES:
            return None
        tpol = policy.tables.get(src.name)
        out += [(src.alias_or_name, c) for c in (tpol.entity if tpol else ())]
    return out


def _row_query(
    tree: exp.Expression,
    top: exp.Select,
    edits: list[_Edit],
    entities: list[tuple[str, str]],
    positions: list[int],
    policy: Policy,
    minors: bool,
) -> tuple[str, list[Comparison]]:
    """One scan of the outermost FROM, unfiltered, for the conditions of its own level.

    Per cell and condition, the entities of the rows the condition alone decides (in one of
    the two cells, not in the other).

    The scan computes each column and each subquery (a correlated ``EXISTS``) once; the
    conditions' row sets are computed over its output, one distinct count per condition and
    entity column.
    """
    where = top.args.get("where")
    w = where.this.copy() if where is not None else exp.true()
    top_path = _path(top, tree)
    deltas: dict[str, tuple[exp.Expression, list[str]]] = {}
    for e in edits:
        t = tree.copy()
        if e.cell is None:
            assert e.term is not None
            _drop(_at(t, e.term))
            tw = _at(t, top_path).args.get("where")
            delta = _differ(w, tw.this if tw is not None else exp.true())
        elif e.size:  # the cell itself
            delta = exp.and_(exp.paren(w.copy()), _differ(e.cell, exp.false()))
        elif e.term is None:  # the cell against its group
            delta = exp.and_(exp.paren(w.copy()), _differ(e.cell, exp.true()))
        else:
            c = e.cell.copy()
            _drop(_at(c, e.term))
            delta = exp.and_(exp.paren(w.copy()), _differ(e.cell, c))
        deltas.setdefault(delta.sql("duckdb"), (delta, []))[1].append(e.condition)
    scanned: dict[str, tuple[str, exp.Expression]] = {}

    def scan_ref(node: exp.Expression) -> exp.Expression:
        return exp.column(
            scanned.setdefault(node.sql("duckdb"), (f"{PREFIX}c{len(scanned)}", node.copy()))[0],
            quoted=True,
        )

    def local(e: exp.Expression) -> exp.Expression:
        def leaf(n: exp.Expression) -> exp.Expression:
            if isinstance(n, exp.Exists | exp.Subquery) or (
                isinstance(n, exp.In) and n.args.get("query") is not None
            ):
                return scan_ref(n)
            if isinstance(n, exp.Column) and n.table:
                return scan_ref(n)
            return n

        return e.copy().transform(leaf, copy=False)

    keys = [local(top.expressions[p].unalias()) for p in positions]
    th = policy.thresholds
    aggs, flags, comparisons = [], [], []
    for i, (delta, conditions) in enumerate(deltas.values()):
        d = local(delta).sql("duckdb")
        terms = []
        for j, (alias, col) in enumerate(entities):
            ent = scan_ref(exp.column(col, alias, quoted=True)).sql("duckdb")
            aggs.append(f"count(DISTINCT CASE WHEN {d} THEN {ent} END) AS n{i}_{j}")
            if minors:
                aud = exp.column("audience", alias, quoted=True)
                minor = f"{scan_ref(aud).sql('duckdb')} = 'minor'"
                aggs.append(f"coalesce(bool_or(({d}) AND {minor}), FALSE) AS m{i}_{j}")
                need = f"CASE WHEN m{i}_{j} THEN {th.needed(True)} ELSE {th.needed(False)} END"
            else:
                need = str(th.needed(False))
            terms.append(f"(n{i}_{j} > 0 AND n{i}_{j} < {need})")
        flags.append(f"({' OR '.join(terms) or 'FALSE'}) AS f{i}")
        comparisons.append(Comparison(conditions[0], 0, i))
    scan = exp.select(*(exp.alias_(n, a, quoted=True) for a, n in scanned.values()))
    key_from = "from_" if "from_" in top.arg_types else "from"
    scan.set(key_from, top.args[key_from].copy())
    for j in top.args.get("joins") or []:
        scan.append("joins", j.copy())
    g = [f'"{PREFIX}g{i}"' for i in range(len(keys))]
    gsel = "".join(f"{k.sql('duckdb')} AS {n}, " for k, n in zip(keys, g, strict=True))
    by = f" GROUP BY {', '.join(g)}" if g else ""
    inner = f'SELECT {gsel}{", ".join(aggs)} FROM ({scan.sql("duckdb")}) AS "{PREFIX}s"{by}'
    return f"SELECT {''.join(k + ', ' for k in g)}{', '.join(flags)} FROM ({inner})", comparisons


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    node = _unparen(node)
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _differ(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """TRUE for a row that meets exactly one of two conditions (NULL counts as not met)."""
    return exp.NEQ(
        this=exp.Coalesce(this=exp.paren(a.copy()), expressions=[exp.false()]),
        expression=exp.Coalesce(this=exp.paren(b.copy()), expressions=[exp.false()]),
    )


def _delta_query(
    tree: exp.Expression,
    edits: list[_Edit],
    positions: list[int],
    policy: Policy,
    minors: bool,
) -> tuple[tuple[str, list[Comparison]], list[_Edit]]:
    """Per condition, the query whose rows are those the condition alone decides.

    At the condition's own level, its clause (or, for a cell, its scope's WHERE) is replaced
    by "meets exactly one of the two": the cells of that query hold exactly the people the
    condition adds or removes, as the contributor rewrite follows them to the outermost
    cells — counted, and whether a minor is among them. Returns the edits this cannot express
    (a subquery inside the clause, the ON of an outer join), for :func:`_set_query`.
    """
    g = [f'"{PREFIX}g{i}"' for i in range(len(positions))]
    gsel = "".join(f"{k}, " for k in g)
    th = policy.thresholds
    keys = _identifier_names(policy)
    base = tree.copy()
    _strip_top(base)
    text, _, _, _ = _variant_sql(base, policy, minors, positions)
    branches = [f"SELECT -1 AS c, {gsel}FALSE AS f FROM ({text})"]
    comparisons: list[Comparison] = []
    rest = []
    for e in edits:
        t = tree.copy()
        if e.cell is None:
            assert e.term is not None and e.clause is not None
            if e.outer_join or _at(tree, e.scope).find_ancestor(exp.Exists, exp.In):
                rest.append(e)  # (a semi-join's rows decide by existing: compare the lists)
                continue
            v = tree.copy()
            _drop(_at(v, e.term))
            original = _at(tree, e.clause)
            links = [k.copy() for k in _conjuncts(original) if _links_rows(k, keys)]
            # the key equalities stay: the same join, restricted to the rows decided
            _at(t, e.clause).replace(exp.and_(*links, _differ(original, _at(v, e.clause))))
        else:
            c = e.cell.copy()
            if e.term is not None:
                _drop(_at(c, e.term))
            other = c if e.term is not None else exp.false() if e.size else exp.true()
            _and_where(_at(t, e.scope), _differ(e.cell, other))
        _strip_top(t)
        try:
            text, _, sizes, flags = _variant_sql(t, policy, minors, positions)
        except ContributorsUnknown:
            rest.append(e)
            continue
        minor = " OR ".join(f"coalesce({_q(f)}, FALSE)" for f in flags) or "FALSE"
        need = f"CASE WHEN {minor} THEN {th.needed(True)} ELSE {th.needed(False)} END"
        fail = " OR ".join(f"({n} > 0 AND {n} < {need})" for n in sizes)
        branches.append(
            f"SELECT {len(comparisons)} AS c, {gsel}({fail or 'FALSE'}) AS f FROM ({text})"
        )
        comparisons.append(Comparison(e.condition, 0, 0))
        if len(branches) > MAX_VARIANTS:
            raise LowEffectUnanalysable(
                f"the query has more than {MAX_VARIANTS} conditions to check for their effect; "
                "split it or use fewer conditions"
            )
    flags_sql = [
        f"coalesce(bool_or(f) FILTER (WHERE c = {i}), FALSE) AS f{i}"
        for i in range(len(comparisons))
    ]
    by = f" GROUP BY {', '.join(g)}" if g else ""
    sql = (
        f"SELECT {gsel}{', '.join(flags_sql) or 'FALSE AS none'} "
        f"FROM ({' UNION ALL '.join(branches)}){by}"
    )
    return (sql, comparisons), rest


def _set_query(
    tree: exp.Expression,
    edits: list[_Edit],
    positions: list[int],
    people: Sequence[str],
    policy: Policy,
    minors: bool,
) -> tuple[str, list[Comparison]]:
    """Variant queries through the contributor rewrite, compared entity by entity.

    Each cell's entity-id lists with the condition and without it, and the entities in
    exactly one of the two (for what :func:`_delta_query` cannot write).
    """
    queries: dict[str, int] = {}
    sqls: list[tuple[str, list[str]]] = []

    def add(t: exp.Expression) -> int:
        _strip_top(t)
        try:
            text, slots, _, _ = _variant_sql(t, policy, minors, positions)
        except ContributorsUnknown as e:
            raise LowEffectUnanalysable(f"a condition's effect cannot be computed: {e}") from e
        if text not in queries:
            queries[text] = len(sqls)
            sqls.append((text, slots))
        if len(sqls) > MAX_VARIANTS:
            raise LowEffectUnanalysable(
                f"the query has more than {MAX_VARIANTS} conditions to check for their effect; "
                "split it or use fewer conditions"
            )
        return queries[text]

    base = add(tree.copy())
    comparisons = []
    for e in edits:
        if e.cell is None:
            assert e.term is not None
            t = tree.copy()
            _drop(_at(t, e.term))
            comparisons.append(Comparison(e.condition, base, add(t)))
            continue
        with_cell = tree.copy()
        _and_where(_at(with_cell, e.scope), e.cell)
        a = add(with_cell)
        if e.size:  # the cell against nobody: its own people
            empty = tree.copy()
            _and_where(_at(empty, e.scope), exp.false())
            comparisons.append(Comparison(e.condition, a, add(empty)))
        elif e.term is None:  # the cell against its group: the aggregate without it
            comparisons.append(Comparison(e.condition, a, base))
        else:
            t, c = tree.copy(), e.cell.copy()
            _drop(_at(c, e.term))
            _and_where(_at(t, e.scope), c)
            comparisons.append(Comparison(e.condition, a, add(t)))
    sql = _side_sql(sqls, comparisons, len(positions), people, policy, minors)
    return sql, comparisons


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _drop(node: exp.Expression) -> None:
    """Drop a term in place: an IN-list element leaves the list, anything else is neutral."""
    if isinstance(node.parent, exp.In) and node.arg_key == "expressions":
        node.pop()
    else:
        node.replace(_neutral(node))


def _cells(sel: exp.Select, top: bool) -> list[tuple[exp.Expression, bool]]:
    """The conditions of ``sel``'s own conditional aggregates, each ``CASE`` branch too.

    Of its outputs and of its HAVING (a one-person cell there decides whether a group
    leaves). With each, whether the cell's own size is checked elsewhere: the outermost
    SELECT's outputs by ``cell_threshold``; every other cell here.
    """
    out = []
    having = sel.args.get("having")
    for p in [*sel.expressions, *([having] if having is not None else [])]:
        counted = top and p is not having
        for agg in p.find_all(exp.AggFunc):
            if agg.parent_select is not sel or not _outer_aggregate(agg, sel):
                continue
            unit = agg.parent if isinstance(agg.parent, exp.Filter) else agg
            out += [(c, counted) for c in _cell_conditions(exp.select(unit.copy()))]
            for case in agg.find_all(exp.Case):
                ifs = case.args.get("ifs") or []
                if len(ifs) > 1:
                    out += [(i.this.copy(), counted) for i in ifs]
    return out


def _outer_aggregate(cond: exp.Expression, sel: exp.Select) -> bool:
    """Whether ``cond`` belongs to an aggregate of ``sel`` itself (not of a nested query)."""
    up = cond.parent
    while up is not None and up is not sel:
        if isinstance(up, exp.Select):
            return False
        up = up.parent
    return up is sel


def _side_sql(
    sqls: list[tuple[str, list[str]]],
    comparisons: list[Comparison],
    n_keys: int,
    people: Sequence[str],
    policy: Policy,
    minors: bool,
) -> str:
    """All variants in one statement: per cell and comparison, whether it fails."""
    g = [f'"{PREFIX}g{i}"' for i in range(n_keys)]
    gsel = "".join(f"{k}, " for k in g)
    ctes = [f"{PREFIX}q{i} AS ({text})" for i, (text, _) in enumerate(sqls)]
    ids = [
        f"SELECT {i} AS q, {gsel}'{slot}' AS s, unnest({_q(slot)}) AS e FROM {PREFIX}q{i}"
        for i, (_, slots) in enumerate(sqls)
        for slot in slots
    ]
    if not ids:
        ids = [f"SELECT 0 AS q, {gsel}'' AS s, NULL AS e FROM {PREFIX}q0 WHERE FALSE"]
    ctes.append(f"{PREFIX}ids AS ({' UNION ALL '.join(ids)})")
    ctes.append(
        f"{PREFIX}mem AS (SELECT {gsel}s, e, list(DISTINCT q) AS qs FROM {PREFIX}ids GROUP BY ALL)"
    )
    minor_sql = "FALSE"
    if minors:
        parts = [
            f'SELECT "{col}" AS e FROM "{t}" WHERE audience = \'minor\''
            for t in people
            for col in policy.tables[t].entity
        ]
        if parts:
            ctes.append(f"{PREFIX}minor AS (SELECT DISTINCT e FROM ({' UNION ALL '.join(parts)}))")
            minor_sql = "mi.e IS NOT NULL"
    th = policy.thresholds
    fails = []
    for c in comparisons:
        diff = f"(list_contains(qs, {c.base}) <> list_contains(qs, {c.variant}))"
        fails.append(
            f"count_if({diff}) AS n{len(fails)}, "
            f"coalesce(bool_or({diff} AND {minor_sql}), FALSE) AS m{len(fails)}"
        )
    join = f" LEFT JOIN {PREFIX}minor AS mi ON m.e = mi.e" if minor_sql != "FALSE" else ""
    per_slot = f"SELECT {gsel}s, {', '.join(fails)} FROM {PREFIX}mem AS m{join} GROUP BY ALL"
    flags = []
    for i in range(len(comparisons)):
        need = f"CASE WHEN p.m{i} THEN {th.needed(True)} ELSE {th.needed(False)} END"
        flags.append(f"coalesce(bool_or(p.n{i} > 0 AND p.n{i} < {need}), FALSE) AS f{i}")
    cells = f"SELECT DISTINCT {', '.join(g) or '1 AS one'} FROM {PREFIX}q0"
    on = " AND ".join(f"c.{k} IS NOT DISTINCT FROM p.{k}" for k in g) or "TRUE"
    by = f" GROUP BY {', '.join('c.' + k for k in g)}" if g else ""
    return (
        f"WITH {', '.join(ctes)}, {PREFIX}p AS ({per_slot}) "
        f"SELECT {''.join(f'c.{k}, ' for k in g)}"
        f"{', '.join(flags)} "
        f"FROM ({cells}) AS c LEFT JOIN {PREFIX}p AS p ON {on}{by}"
    )


# -- applying it to a result -----------------------------------------------------------------


def _norm(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return v


def check(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    policy: Policy,
    minors_possible: bool,
    people: Sequence[str],
    kept: list[pa.RecordBatch],
) -> Outcome:
    """Suppress the released rows some condition changes by 1 … threshold − 1 entities."""
    try:
        p = plan(sql, policy, minors_possible, tuple(people))
    except LowEffectUnanalysable:
        raise
    except Exception as e:  # deny, never crash: the plan reads no data (SQL + policy only)
        raise LowEffectUnanalysable(f"the effect of the query's conditions failed ({e!r})") from e
    if p is None or not kept:
        return Outcome(kept)
    n = p.n_keys
    failing: dict[tuple, list[str]] = {}
    for side, comparisons in p.queries:
        for r in con.execute(side).fetchall():
            hit = failing.setdefault(tuple(_norm(v) for v in r[:n]), [])
            hit += [comparisons[i].condition for i, f in enumerate(r[n:]) if f]
    out = Outcome([])
    for batch in kept:
        cols = [batch.column(i).to_pylist() for i in p.key_positions]
        keep = []
        for j in range(batch.num_rows):
            hit = failing.get(tuple(_norm(c[j]) for c in cols))
            if hit is None:
                raise LowEffectUnanalysable("a released cell was not found by the effect check")
            keep.append(not hit)
            if hit:
                out.reasons.append(
                    "a condition changes the people behind a released cell by fewer than the "
                    f"threshold: {hit[0][:120]}"
                )
        out.checked += batch.num_rows
        out.suppressed += keep.count(False)
        if all(keep):
            out.kept.append(batch)
        elif any(keep):
            out.kept.append(batch.filter(pa.array(keep)))
    return out
