"""Rewrite an allowed query so that every output row carries its contributors, computed exactly.

Disclosure checks need, for every released row, how many distinct people stand behind it (per
entity column of every table feeding the row) and whether any of them is under 18. The
rewrite adds *helper columns* to every SELECT of the query, scope by scope:

* a base table of people contributes one *slot* per entity column (``videos.author_id``;
  ``follows`` has two) holding that row's id, and a *minor flag* ``audience = 'minor'``;
* a non-aggregating SELECT passes its sources' slots through unchanged;
* an aggregating SELECT turns each slot into the exact set of distinct ids of its group:
  ``list(DISTINCT id)`` over base rows, ``list_distinct(flatten(list(ids)))`` over sets that
  an inner aggregate already built, and ``bool_or`` for flags. At the outermost level the sets
  are only counted (``count(DISTINCT id)``), which is as cheap as the query itself;
* ``UNION ALL`` branches are aligned slot by slot; joins take the union of their sides' slots.

Everything whose contributors this cannot follow exactly (subqueries inside expressions,
window functions, ``UNION``/``INTERSECT``/``EXCEPT``, recursive CTEs, table functions other
than ``UNNEST``) raises :class:`ContributorsUnknown`, and the query is denied, never run on a
guess.

The outermost SELECT also gets rounding of every count-like value (see
:mod:`vce.policy.countlike` and :mod:`vce.policy.checks.rounding`), for sums of measures that
declare dominance the group keys needed to compute the top-n share in a side query (see
:mod:`vce.policy.checks.dominance`), and for quantiles a side query counting the entities
strictly below and above each (see :mod:`vce.policy.checks.order_statistic`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from vce.data.schema import TABLES
from vce.policy import anti_join
from vce.policy.additive import additive_terms, mean_as_avg
from vce.policy.bounds import (
    Fixed,
    RelationStats,
    RowBound,
    TopBound,
    conjuncts,
    fixed_dimensions,
    fixed_value,
    lower_bound_sql,
    lower_bound_words,
    volatile,
)
from vce.policy.checks import regression
from vce.policy.checks.rounding import rounded_sql
from vce.policy.countlike import (
    INDICATOR,
    constant_values,
    count_product,
    is_count_aggregate,
    is_indicator_avg,
)
from vce.policy.model import ColumnClass, Policy

HELPER_PREFIX = "__vce_"
DOMINANCE_BUCKETS_PER_N = 2  # buckets per dominant contributor: the bound's floor is 1/2
SCALAR_PREFIX = "__vce_sq"
NOT_FED = -1  # count column value: the entity column does not feed this row (see threshold)


class ContributorsUnknown(ValueError):
    """The engine cannot compute a query's contributors exactly; the query must be denied."""

    rule = "contributors-unknown"


class CountArithmetic(ContributorsUnknown):
    """An output multiplies a count with another statistic (see :mod:`vce.policy.countlike`)."""

    rule = "count-arithmetic"


class AntiJoinNotCounted(ContributorsUnknown):
    """An anti-join whose removed people cannot be counted per released cell."""

    rule = "anti-join"


class RowExportNotAllowed(ValueError):
    """Rows of a table without row-level export would leave unaggregated."""

    rule = "row-export-not-allowed"


class LinkedRowExport(RowExportNotAllowed):
    """Unaggregated rows built from several table instances (linked, e.g. by their author)."""

    rule = "row-export-linked"


@dataclass(frozen=True)
class Slot:
    """One entity column feeding a scope: ``kind`` is ``row`` (one id) or ``set`` (id list)."""

    name: str
    table: str
    column: str
    kind: str
    strict: bool = False  # from a scalar subquery: its group always feeds, even when empty


@dataclass
class Layout:
    """The helper columns a rewritten scope outputs and what flows through them."""

    slots: dict[str, Slot] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)  # helper name -> kind (row/set)
    raw_tables: set[str] = field(default_factory=set)  # base tables whose rows pass unaggregated
    count_columns: set[str] = field(default_factory=set)  # outputs that are plain counts
    indicator_columns: set[str] = field(default_factory=set)  # outputs that are 0/1 (or bool)
    aggregated: bool = False  # each row is a group (its outputs are statistics)
    dominance_columns: set[str] = field(default_factory=set)  # outputs built from such measures
    linked: bool = False  # unaggregated rows joined from several sources (row-export-linked)


@dataclass(frozen=True)
class DominanceSum:
    """A released ``sum`` of a dominance measure: the side query computing its top-n share."""

    output: str
    sql: str  # returns the group keys __vce_g<i>, __vce_top, __vce_total


@dataclass(frozen=True)
class OrderStatistic:
    """A released quantile or median: the side query counting entities below and above it."""

    output: str
    sql: str  # returns the group keys __vce_g<i>, __vce_below, __vce_above


QUANTILES = (exp.Median, exp.PercentileCont, exp.PercentileDisc, exp.Quantile, exp.ApproxQuantile)


def _quantile_units(node: exp.Expression) -> list[exp.Expression]:
    """Order-statistic aggregates under ``node``: ``WITHIN GROUP`` calls as one unit.

    >>> q = sqlglot.parse_one("SELECT median(a), percentile_cont(0.5) WITHIN GROUP "
    ...     "(ORDER BY b), quantile_disc(c, 0.9) FROM t", read="duckdb")
    >>> [type(u).__name__ for u in _quantile_units(q)]
    ['Median', 'WithinGroup', 'PercentileDisc']
    """
    out: list[exp.Expression] = []
    for n in node.find_all(*QUANTILES, exp.WithinGroup):
        if isinstance(n, exp.WithinGroup):
            if isinstance(n.this, QUANTILES):
                out.append(n)
        elif not isinstance(n.parent, exp.WithinGroup):
            out.append(n)
    return out


def _quantile_measure(unit: exp.Expression) -> exp.Expression:
    """The expression a quantile orders (``x`` of ``median(x)`` or ``... ORDER BY x``)."""
    if isinstance(unit, exp.WithinGroup):
        order = unit.expression
        items = order.expressions if isinstance(order, exp.Order) else [order]
        if len(items) != 1:
            raise ContributorsUnknown("a quantile ordered by several expressions")
        return items[0].this if isinstance(items[0], exp.Ordered) else items[0]
    return unit.this


@dataclass(frozen=True)
class Rewritten:
    """The query to run and what the checks need to know about its helper columns."""

    sql: str
    slots: tuple[str, ...]  # count columns __vce_n_<slot> for aggregated slots
    has_people: bool
    raw_tables: frozenset[str]
    rounded_columns: tuple[str, ...]
    dominance: tuple[DominanceSum, ...]
    group_keys: tuple[str, ...]
    order_stats: tuple[OrderStatistic, ...]
    output_columns: tuple[str, ...]
    tables: frozenset[str] = frozenset()  # base tables the query reads (views to create)
    strict_slots: tuple[str, ...] = ()  # count columns that must meet thresholds even at 0
    cells: bool = False  # __vce_cellmin: smallest conditional-aggregate cell (see _plan_cells)
    fast_sql: str | None = None  # same query, lower bounds instead of exact distinct counts
    lower_bound_slots: tuple[str, ...] = ()  # count columns that are lower bounds in fast_sql
    # helper flags left out because they are FALSE on every row (see _finish_select)
    false_flags: tuple[str, ...] = ()
    # whole-relation statistics that decide whether the fast pass bounds by row counts (see
    # vce.policy.bounds.RelationStats): (relation, entity) rows, (…, measure) top sums
    wanted_rows: frozenset[tuple[str, str]] = frozenset()
    wanted_tops: frozenset[tuple[str, str, str]] = frozenset()
    # fast pass only: count columns that RowBound turns into lower bounds, the conditional
    # cells' count columns (instead of __vce_cellmin), and dominance tops by TopBound
    row_bounds: tuple[RowBound, ...] = ()
    cell_terms: tuple[str, ...] = ()
    top_bounds: tuple[TopBound, ...] = ()
    anti_joins: tuple[anti_join.AntiJoin, ...] = ()  # side queries: whom each anti-join removes
    # regr_count of each released regression (vce.policy.checks.regression)
    dof_columns: tuple[str, ...] = ()


def dataset_schema() -> dict[str, dict[str, str]]:
    """Column types of every table, plus the ``audience`` partition column of people tables."""
    out: dict[str, dict[str, str]] = {}
    for name, table in TABLES.items():
        cols = dict(table.columns)
        if table.about_people:
            cols["audience"] = "VARCHAR"
        out[name] = cols
    return out


def _ident(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _alias(e: exp.Expression, name: str) -> exp.Alias:
    return exp.alias_(e, name, quoted=True)


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _is_agg(node: exp.Expression) -> bool:
    """Tell whether ``node`` is an aggregate call of its scope (not a window function)."""
    parent = node.parent.parent if isinstance(node.parent, exp.Filter) else node.parent
    return isinstance(node, exp.AggFunc) and not isinstance(parent, exp.Window)


def _scope_nodes(sel: exp.Select) -> Iterable[exp.Expression]:
    """Expressions evaluated in this SELECT (projections, WHERE, HAVING, ORDER, join ON)."""
    for key in ("expressions", "where", "having", "group", "order", "qualify"):
        val = sel.args.get(key)
        for v in val if isinstance(val, list) else [val]:
            if v is not None:
                yield v
    for j in sel.args.get("joins") or []:
        if j.args.get("on") is not None:
            yield j.args["on"]


_CONDITION_TYPES = (exp.Predicate, exp.Connector, exp.Not, exp.Case, exp.If)


def _cell_conditions(sel: exp.Select) -> list[exp.Expression]:
    """Conditions that select a subset of a group's rows inside an output aggregate.

    >>> q = sqlglot.parse_one("SELECT count_if(a > 1), sum(b) FILTER (WHERE c), "
    ...     "sum(CASE WHEN d = 1 THEN 1 ELSE 0 END), avg(e) FROM t")
    >>> [c.sql() for c in _cell_conditions(q)]
    ['a > 1', 'c', 'd = 1']
    """
    out: list[exp.Expression] = []
    having = sel.args.get("having")
    for p in [*sel.expressions, *([having.this] if having is not None else [])]:
        for agg in p.find_all(exp.AggFunc):
            if not _is_agg(agg):
                continue
            if isinstance(agg.parent, exp.Filter):
                out.append(agg.parent.expression.this)
            if isinstance(agg, exp.CountIf):
                out.append(agg.this)
                continue
            for arg in agg.iter_expressions():
                for node in arg.find_all(*_CONDITION_TYPES):
                    up, nested = node.parent, False
                    while up is not None and up is not agg:
                        nested = nested or isinstance(up, _CONDITION_TYPES)
                        up = up.parent
                    if nested:
                        continue
                    if isinstance(node, exp.Case):
                        ifs = [i.this for i in node.args.get("ifs") or []]
                        if ifs:
                            cond = ifs[0].copy()
                            for other in ifs[1:]:
                                cond = exp.Or(this=cond, expression=other.copy())
                            out.append(cond)
                    elif isinstance(node, exp.If):
                        out.append(node.this)
                    else:
                        out.append(node)
    return out


def _ancestors(node: exp.Expression, root: exp.Expression) -> Iterable[exp.Expression]:
    """Ancestors of ``node`` strictly below ``root``."""
    up = node.parent
    while up is not None and up is not root:
        yield up
        up = up.parent


def _output_name(e: exp.Expression) -> str:
    return e.alias_or_name


def _count_column(slot: str) -> str:
    """The output column counting a slot's entities (``__vce_e__t__c__0`` → ``__vce_n__t__c__0``).

    >>> _count_column("__vce_e__videos__author_id__0")
    '__vce_n__videos__author_id__0'
    """
    return f"{HELPER_PREFIX}n{slot[len(HELPER_PREFIX) + 1 :]}"


class _Rewriter:
    def __init__(
        self,
        policy: Policy,
        minors_possible: bool = True,
        fast: bool = False,
        stats: RelationStats | None = None,
    ) -> None:
        self.policy = policy
        self.minors_possible = minors_possible
        self.fast = fast
        self.stats = stats or RelationStats()
        self.wanted_rows: set[tuple[str, str]] = set()
        self.wanted_tops: set[tuple[str, str, str]] = set()
        self.row_bounds: list[RowBound] = []
        self.cell_terms: list[str] = []
        self.top_bounds: list[TopBound] = []
        self._in_union = False  # rows of several SELECTs: no per-row bound applies to all
        self._relation: str | None = None  # the one relation whose statistics bound groups
        self._is_dim: Callable[[exp.Column], bool] | None = None
        self._fixed = Fixed()
        self.lower_bound: set[str] = set()
        self.inline_dominance: list[str] = []
        self.cells = False
        self._exprs: dict[int, dict[str, exp.Expression]] = {}
        self._src_cache: dict[int, list[tuple[str, str, Layout | None]]] = {}
        self.dominance: list[DominanceSum] = []
        self.order_stats: list[OrderStatistic] = []
        self.dof_columns: list[str] = []
        self.group_keys: list[str] = []
        self.rounded: list[str] = []
        self.base_tables: set[str] = set()
        self.false_flags: list[str] = []
        self._counter = 0
        self.anti_joins: list[anti_join.AntiJoin] = []
        self._anti: dict[int, list[tuple[str, exp.Expression]]] = {}  # sel -> (alias, test)

    # -- query nodes -------------------------------------------------------------------------

    def query(self, q: exp.Expression, ctes: dict[str, Layout], top: bool) -> Layout:
        with_ = q.args.get("with") or q.args.get("with_")
        if with_ is not None:
            if with_.args.get("recursive"):
                raise ContributorsUnknown("recursive CTEs are not supported in exported queries")
            ctes = dict(ctes)
            for cte in with_.expressions:
                ctes[cte.alias_or_name] = self.query(cte.this, ctes, top=False)
        if isinstance(q, exp.Select):
            return self.select(q, ctes, top)
        if isinstance(q, exp.Union) and not q.args.get("distinct"):
            return self.union_all(q, ctes, top)
        if isinstance(q, exp.Subquery):
            return self.query(q.this, ctes, top)
        kind = type(q).__name__.upper()
        if isinstance(q, exp.Union):
            kind = "UNION (distinct)"
        raise ContributorsUnknown(
            f"{kind} merges or removes rows so contributors cannot be traced; use UNION ALL"
        )

    def union_all(self, u: exp.Union, ctes: dict[str, Layout], top: bool) -> Layout:
        branches: list[exp.Select] = []

        def walk(n: exp.Expression) -> None:
            if (
                isinstance(n, exp.Union)
                and not n.args.get("distinct")
                and n is not u
                and (n.args.get("with") or n.args.get("with_"))
            ):
                raise ContributorsUnknown("WITH inside a UNION ALL branch; move it to the top")
            if isinstance(n, exp.Union):
                if n.args.get("distinct"):
                    raise ContributorsUnknown("UNION (distinct) inside UNION ALL; use UNION ALL")
                walk(n.left)
                walk(n.right)
            elif isinstance(n, exp.Subquery):
                walk(n.this)
            elif isinstance(n, exp.Select):
                branches.append(n)
            else:
                raise ContributorsUnknown(f"{type(n).__name__} in a set operation")

        walk(u)
        self._in_union = self._in_union or top
        layouts = [self.select(b, ctes, top, finalize=False) for b in branches]
        if top and (self.dominance or self.order_stats or self.dof_columns):
            raise ContributorsUnknown(
                "dominance, order statistics and regressions cannot be checked across UNION ALL "
                "branches; export each branch as its own query"
            )
        names = sorted({s for lay in layouts for s in lay.slots})
        flags = sorted({f for lay in layouts for f in lay.flags})
        merged = Layout()
        for lay in layouts:
            merged.raw_tables |= lay.raw_tables
        first = layouts[0]
        merged.count_columns = set(first.count_columns)
        merged.indicator_columns = set.intersection(*(lay.indicator_columns for lay in layouts))
        merged.aggregated = any(lay.aggregated for lay in layouts)
        merged.dominance_columns = set().union(*(lay.dominance_columns for lay in layouts))
        merged.linked = any(lay.linked for lay in layouts)
        for name in names:
            kinds = {lay.slots[name].kind for lay in layouts if name in lay.slots}
            proto = next(lay.slots[name] for lay in layouts if name in lay.slots)
            if "fixed" in kinds and len(kinds) > 1:
                raise ContributorsUnknown("a scalar subquery feeds only some UNION ALL branches")
            kind = "fixed" if "fixed" in kinds else "set" if "set" in kinds else "row"
            merged.slots[name] = Slot(name, proto.table, proto.column, kind, proto.strict)
        for f in flags:
            merged.flags[f] = "set" if any(lay.flags.get(f) == "set" for lay in layouts) else "row"
        for b, lay in zip(branches, layouts, strict=True):
            self._finish_select(b, lay, merged, top)
        return merged

    def select(
        self,
        sel: exp.Select,
        ctes: dict[str, Layout],
        top: bool,
        finalize: bool = True,
        scalar: bool = False,
    ) -> Layout:
        self._lift_subqueries(sel)
        for node in _scope_nodes(sel):
            for sub in node.find_all(exp.Query):
                if sub is not node or isinstance(node, exp.Query):
                    raise ContributorsUnknown(
                        "a subquery inside an expression (IN, EXISTS, scalar) hides whose rows "
                        "decide the result; rewrite it as a JOIN or a CTE"
                    )
        if sel.args.get("distinct") and sel.args["distinct"].args.get("on"):
            raise ContributorsUnknown("DISTINCT ON picks one row per key; use GROUP BY")
        if sel.args.get("qualify"):
            raise ContributorsUnknown("QUALIFY filters on window results; use GROUP BY")

        for alias, test in anti_join.left_join_tests(sel):
            self._anti.setdefault(id(sel), []).append((alias, test))
        sources = self._sources(sel, ctes)
        windows = [w for node in _scope_nodes(sel) for w in node.find_all(exp.Window)]
        if windows:
            rows_are_groups = bool(sources) and all(
                lay is not None and not lay.raw_tables for _, _, lay in sources
            )
            self._check_windows(sel, windows, top, rows_are_groups)
        aggregating = bool(sel.args.get("group")) or any(
            _is_agg(a) for node in _scope_nodes(sel) for a in node.find_all(exp.AggFunc)
        )
        if sel.args.get("distinct"):
            if aggregating:
                raise ContributorsUnknown("SELECT DISTINCT over aggregates; drop DISTINCT")
            sel.set("distinct", None)
            keys = [p.unalias().copy() for p in sel.expressions]
            sel.set("group", exp.Group(expressions=keys))
            aggregating = True

        inner = Layout()  # what the sources provide, as expressions on this scope
        anti_inner = Layout()  # what anti-joined subqueries provide: only their removed rows
        anti_aliases = {a for a, _ in self._anti.get(id(sel), [])}
        exprs: dict[str, exp.Expression] = {}
        counter: dict[tuple[str, str], int] = {}
        for alias, table, lay in sources:
            if lay is None:  # base table
                raw = Layout(raw_tables={table})
                tpol = self.policy.tables.get(table)
                if tpol is not None and tpol.entity:
                    for col in tpol.entity:
                        name = self._slot_name(table, col, counter)
                        raw.slots[name] = Slot(name, table, col, "row")
                        exprs[name] = _col(col, alias)
                    if self.minors_possible:  # else only adult files are read: no flag needed
                        fname = self._flag_name(table, counter)
                        raw.flags[fname] = "row"
                        exprs[fname] = exp.EQ(
                            this=_col("audience", alias), expression=exp.Literal.string("minor")
                        )
                self._merge(anti_inner if alias in anti_aliases else inner, raw)
                continue
            mapped = Layout(raw_tables=set(lay.raw_tables))
            for old, slot in lay.slots.items():
                name = self._slot_name(slot.table, slot.column, counter)
                mapped.slots[name] = Slot(name, slot.table, slot.column, slot.kind, slot.strict)
                exprs[name] = _col(old, alias)
            for old, kind in lay.flags.items():
                fname = self._flag_name(old.split("__")[-2], counter)
                mapped.flags[fname] = kind
                exprs[fname] = _col(old, alias)
            self._merge(anti_inner if alias in anti_aliases else inner, mapped)

        layout = Layout()
        by_alias = {a: (t, lay) for a, t, lay in sources}
        layout.count_columns = self._count_outputs(sel, by_alias)
        layout.indicator_columns = self._indicator_outputs(sel, by_alias)
        layout.aggregated = aggregating
        self._check_count_products(sel, by_alias, aggregating)
        layout.dominance_columns = self._dominance_outputs(sel, by_alias)
        self._relation, self._is_dim, self._fixed = None, None, Fixed()
        if top and self.fast:
            self._find_relation(sel, sources)
        self._check_quantile_places(sel, top and aggregating)
        if anti_aliases:
            self._plan_anti_joins(sel, exprs, inner, anti_inner, top and aggregating)
        self._check_regression_places(sel, top and aggregating)
        if aggregating:
            if top:
                self._plan_dominance(sel, by_alias, exprs)
                self._plan_order_stats(sel, by_alias, exprs)
                self._plan_dof(sel, exprs)
                self._plan_cells(sel, exprs, inner)
            counted = top or scalar
            for name, slot in inner.slots.items():
                e = exprs[name]
                kind = "fixed" if scalar else "set"
                if slot.kind == "fixed":  # same value on every row: a lifted scalar subquery
                    agg, kind = _fn("max", e), "fixed" if not top else "set"
                elif slot.kind == "row" and top and self.fast:
                    row_bound = self._row_bound(e.sql("duckdb"), self._fixed, _count_column(name))
                    if row_bound is not None:  # the count; RowBound makes it a bound
                        agg = exp.Count(this=exp.Star())
                        self.row_bounds.append(row_bound)
                    else:
                        agg = self._hashed_bound(e)
                    self.lower_bound.add(name)
                elif slot.kind == "row":
                    agg = (
                        exp.Count(this=exp.Distinct(expressions=[e]))
                        if counted
                        else _fn("list", exp.Distinct(expressions=[e]))
                    )
                else:
                    flat = _fn("list_distinct", _fn("flatten", _fn("list", e)))
                    agg = _fn("len", flat) if counted else flat
                layout.slots[name] = Slot(
                    name, slot.table, slot.column, kind, slot.strict or scalar
                )
                exprs[name] = agg
            if scalar:
                self._round_counts(sel, by_alias)
            for fname in inner.flags:
                layout.flags[fname] = "set"
                exprs[fname] = _fn("bool_or", exprs[fname])
        else:
            layout.slots = dict(inner.slots)
            layout.flags = dict(inner.flags)
            layout.raw_tables = set(inner.raw_tables)
            linking = [a for a, _, lay in sources if not a.startswith(SCALAR_PREFIX)]
            layout.linked = len(linking) > 1 or any(
                lay is not None and lay.linked for _, _, lay in sources
            )
            if top:
                for name, slot in inner.slots.items():
                    if slot.kind == "set":
                        exprs[name] = _fn("len", exprs[name])
                    if slot.kind == "fixed":
                        layout.slots[name] = Slot(name, slot.table, slot.column, "set", True)
        self._exprs[id(sel)] = exprs
        if finalize:
            self._finish_select(sel, layout, layout, top)
        return layout

    # -- helpers -----------------------------------------------------------------------------

    def _lift_subqueries(self, sel: exp.Select) -> None:
        """Turn subqueries in expressions into joins whose contributors the rewrite follows.

        * ``[NOT] EXISTS (SELECT ... WHERE inner.k = outer.k AND ...)`` and
          ``x IN (SELECT y ...)`` in WHERE become a LEFT JOIN to the subquery grouped by its
          key, and the predicate ``key IS [NOT] NULL``. The rows that matched are
          contributors of the outer row (a comment makes its video count "with comments");
          an anti-join's kept rows matched nobody, so nobody is added.
        * an uncorrelated scalar subquery (one aggregate, no GROUP BY: exactly one row)
          becomes a cross join to that row; its contributors are counted as their own
          entity column, so a total over a small group is suppressed like any group.

        Anything else (correlated scalars, NOT IN, subqueries in ON) stays and is denied.
        """
        where = sel.args.get("where")
        if where is not None:
            for conj in list(
                where.this.flatten() if isinstance(where.this, exp.And) else [where.this]
            ):
                negated = isinstance(conj, exp.Not)
                pred = conj.this if negated else conj
                if isinstance(pred, exp.Paren):
                    pred = pred.this
                joined = None
                if isinstance(pred, exp.Exists) and isinstance(pred.this, exp.Select):
                    joined = self._exists_join(sel, pred.this)
                elif isinstance(pred, exp.In) and isinstance(
                    pred.args.get("query"), exp.Expression
                ):
                    joined = self._in_join(sel, pred)
                if joined is None:
                    continue
                test: exp.Expression = exp.Is(this=joined, expression=exp.Null())
                if negated:  # an anti-join: whom it removes is counted (vce.policy.anti_join)
                    self._anti.setdefault(id(sel), []).append((joined.table, test))
                    if isinstance(pred, exp.In):  # NULL NOT IN (...) is not true
                        null = exp.Is(this=pred.this.copy(), expression=exp.Null())
                        test = exp.Paren(this=exp.And(this=exp.Not(this=null), expression=test))
                conj.replace(test if negated else exp.Not(this=test))
        # aggregates of this scope only: ``count(*)`` inside ``(SELECT count(*) FROM t)`` does
        # not make ``SELECT (SELECT count(*) FROM t)`` an aggregating SELECT
        aggregating = bool(sel.args.get("group")) or any(
            _is_agg(a) and a.parent_select is sel
            for e in sel.expressions
            for a in e.find_all(exp.AggFunc)
        )
        for key in ("expressions", "where", "having", "order"):
            val = sel.args.get(key)
            for v in val if isinstance(val, list) else [val]:
                if v is None:
                    continue
                for sub in list(v.find_all(exp.Subquery)):
                    if not isinstance(sub.this, exp.Select) or not self._single_row(sub.this):
                        continue
                    if self._correlated(sub.this):
                        continue
                    alias = f"{SCALAR_PREFIX}{self._next()}"
                    name = sub.this.named_selects[0]
                    lifted = exp.Subquery(
                        this=sub.this.copy(),
                        alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)),
                    )
                    if sel.args.get("from") or sel.args.get("from_"):
                        sel.append("joins", exp.Join(this=lifted, kind="CROSS"))
                    else:  # ``SELECT (SELECT count(*) FROM t)``: its one row is the FROM
                        key_ = "from_" if "from_" in sel.arg_types else "from"
                        sel.set(key_, exp.From(this=lifted))
                    ref: exp.Expression = _col(name, alias)
                    inside_agg = False
                    node = sub.parent
                    while node is not None and node is not sel:
                        inside_agg = inside_agg or (isinstance(node, exp.AggFunc) and _is_agg(node))
                        node = node.parent
                    if aggregating and key != "where" and not inside_agg:
                        ref = _fn("any_value", ref)
                    sub.replace(ref)

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    @staticmethod
    def _own_aliases(q: exp.Expression) -> set[str]:
        names = {t.alias_or_name for t in q.find_all(exp.Table)}
        names |= {s.alias_or_name for s in q.find_all(exp.Subquery) if s.alias_or_name}
        names |= {c.alias_or_name for c in q.find_all(exp.CTE)}
        for u in q.find_all(exp.Unnest):
            alias = u.args.get("alias")
            if alias is not None:
                names.add(alias.name)
        return names

    def _correlated(self, q: exp.Select) -> bool:
        own = self._own_aliases(q)
        return any(c.table and c.table not in own for c in q.find_all(exp.Column))

    @staticmethod
    def _single_row(q: exp.Select) -> bool:
        return (
            not q.args.get("group")
            and len(q.expressions) == 1
            and any(_is_agg(a) for a in q.expressions[0].find_all(exp.AggFunc))
        )

    def _keyed_join(
        self, sel: exp.Select, sub: exp.Select, keys: list[tuple[exp.Expression, exp.Expression]]
    ) -> exp.Expression:
        """LEFT JOIN ``sub`` grouped by its key columns; return the first key's column."""
        alias = f"{HELPER_PREFIX}sj{self._next()}"
        sub.set(
            "expressions",
            [_alias(k.copy(), f"{HELPER_PREFIX}k{i}") for i, (k, _) in enumerate(keys)],
        )
        sub.set("group", exp.Group(expressions=[k.copy() for k, _ in keys]))
        for arg in ("order", "limit", "offset", "distinct"):
            sub.set(arg, None)
        on = [
            exp.EQ(this=_col(f"{HELPER_PREFIX}k{i}", alias), expression=outer.copy())
            for i, (_, outer) in enumerate(keys)
        ]
        cond: exp.Expression = on[0]
        for c in on[1:]:
            cond = exp.And(this=cond, expression=c)
        sel.append(
            "joins",
            exp.Join(
                this=exp.Subquery(
                    this=sub, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))
                ),
                side="LEFT",
                on=cond,
            ),
        )
        return _col(f"{HELPER_PREFIX}k0", alias)

    def _exists_join(self, sel: exp.Select, sub: exp.Select) -> exp.Expression | None:
        if sub.args.get("group") or sub.args.get("having") or sub.args.get("with"):
            return None
        if any(_is_agg(a) for e in sub.expressions for a in e.find_all(exp.AggFunc)):
            return None
        own = self._own_aliases(sub)
        where = sub.args.get("where")
        if where is None:
            return None
        conjs = list(where.this.flatten() if isinstance(where.this, exp.And) else [where.this])
        keys, rest = [], []
        for c in conjs:
            outer_cols = [col for col in c.find_all(exp.Column) if col.table not in own]
            if not outer_cols:
                rest.append(c)
                continue
            if (
                isinstance(c, exp.EQ)
                and isinstance(c.this, exp.Column)
                and isinstance(c.expression, exp.Column)
            ):
                a, b = c.this, c.expression
                if a.table in own and b.table not in own:
                    keys.append((a, b))
                    continue
                if b.table in own and a.table not in own:
                    keys.append((b, a))
                    continue
            return None  # correlated in a way we do not follow
        if not keys:
            return None
        sub = sub.copy()
        if rest:
            cond = rest[0].copy()
            for r in rest[1:]:
                cond = exp.And(this=cond, expression=r.copy())
            sub.set("where", exp.Where(this=cond))
        else:
            sub.set("where", None)
        for s in sub.find_all(exp.Subquery):
            if self._correlated(s.this) if isinstance(s.this, exp.Select) else False:
                return None
        return self._keyed_join(sel, sub, keys)

    def _in_join(self, sel: exp.Select, pred: exp.In) -> exp.Expression | None:
        query = pred.args["query"]
        inner = query.this if isinstance(query, exp.Subquery) else query
        if not isinstance(inner, exp.Query) or len(inner.named_selects) != 1:
            return None
        if isinstance(inner, exp.Select) and self._correlated(inner):
            return None
        alias = f"{HELPER_PREFIX}in{self._next()}"
        name = inner.named_selects[0]
        wrapped = exp.select(_col(name, alias)).from_(
            exp.Subquery(
                this=inner.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))
            )
        )
        return self._keyed_join(sel, wrapped, [(_col(name, alias), pred.this)])

    @staticmethod
    def _check_windows(
        sel: exp.Select, windows: list[exp.Window], top: bool, rows_are_groups: bool
    ) -> None:
        """Allow only totals over groups: ``sum(count(*)) OVER (PARTITION BY ...)``.

        (The static rule ``window-function`` now denies these too, before the rewrite runs:
        they are computed before suppression and so add up withheld groups as well.)

        Also over the rows of an aggregated CTE or derived table (each row a group).
        Such a window is an aggregate of a set of groups that contains the row's own group,
        so it stands behind at least as many people as the row itself. Ordered windows
        (``lag``, running sums, ranks) would carry a *neighbouring*, possibly suppressed,
        group into this row, and windows over unaggregated rows single out persons.
        """
        why = None
        aggregating = bool(sel.args.get("group")) or any(
            _is_agg(a) for e in sel.expressions for a in e.find_all(exp.AggFunc)
        )
        if not top or not (aggregating or rows_are_groups):
            why = "window functions are only possible over the groups of the outermost GROUP BY"
        for w in windows:
            if why:
                break
            fn = w.this.this if isinstance(w.this, exp.Filter) else w.this
            if not isinstance(fn, exp.Sum | exp.Count | exp.Avg):
                why = f"{fn.sql('duckdb')} OVER (...) relates a row to its neighbours"
            elif w.args.get("order") is not None or w.args.get("spec") is not None:
                why = "ordered or framed windows carry neighbouring (maybe suppressed) groups"
            elif (
                aggregating
                and not any(_is_agg(a) for a in fn.find_all(exp.AggFunc))
                and not isinstance(fn, exp.Count)
            ):
                why = "a window over unaggregated values in a GROUP BY query"
        if why:
            raise ContributorsUnknown(
                f"{why}; use sum(...)/avg(...)/count(...) OVER (PARTITION BY ...) over "
                "aggregates, or GROUP BY"
            )

    def _slot_name(self, table: str, column: str, counter: dict[tuple[str, str], int]) -> str:
        k = counter.get((table, column), 0)
        counter[(table, column)] = k + 1
        return f"{HELPER_PREFIX}e__{_ident(table)}__{_ident(column)}__{k}"

    def _flag_name(self, table: str, counter: dict[tuple[str, str], int]) -> str:
        k = counter.get((table, ""), 0)
        counter[(table, "")] = k + 1
        return f"{HELPER_PREFIX}m__{_ident(table)}__{k}"

    @staticmethod
    def _merge(into: Layout, other: Layout) -> None:
        into.slots.update(other.slots)
        into.flags.update(other.flags)
        into.raw_tables |= other.raw_tables

    def _sources(
        self, sel: exp.Select, ctes: dict[str, Layout]
    ) -> list[tuple[str, str, Layout | None]]:
        """(alias, base table or '', layout of a CTE/derived table or None for a base table)."""
        froms: list[exp.Expression] = []
        f = sel.args.get("from") or sel.args.get("from_")
        if f is not None:
            froms.append(f.this)
        for j in sel.args.get("joins") or []:
            if j.args.get("kind", "").upper() in {"SEMI", "ANTI"}:
                raise ContributorsUnknown("SEMI/ANTI joins filter by rows that are not output")
            froms.append(j.this)
        out: list[tuple[str, str, Layout | None]] = []
        self._src_cache[id(sel)] = out
        for src in froms:
            alias = src.alias_or_name
            if any(src.args.get(k) for k in ("pivots", "joins", "laterals", "sample")):
                raise ContributorsUnknown(
                    f"{src.sql('duckdb')[:60]}: PIVOT, SAMPLE or nested joins reshape rows in "
                    "ways contributors are not followed through; use GROUP BY"
                )
            if isinstance(src, exp.Table) and not src.args.get("db"):
                name = src.name
                if name in ctes:
                    out.append((alias, name, ctes[name]))
                elif name in TABLES:
                    self.base_tables.add(name)
                    out.append((alias, name, None))
                else:
                    raise ContributorsUnknown(f"unknown table {name!r}")
            elif isinstance(src, exp.Subquery) and alias.startswith(SCALAR_PREFIX):
                out.append((alias, "", self.select(src.this, ctes, top=False, scalar=True)))
            elif isinstance(src, exp.Subquery):
                out.append((alias, "", self.query(src.this, ctes, top=False)))
            elif isinstance(src, exp.Unnest) or (
                isinstance(src, exp.Table) and isinstance(src.this, exp.Unnest)
            ):
                continue  # values of the row it unnests: contributes no one new
            elif isinstance(src, exp.Lateral) and isinstance(src.this, exp.Unnest):
                continue
            else:
                raise ContributorsUnknown(
                    f"{type(src).__name__} as a source: contributors cannot be traced"
                )
        return out

    def _source_of(
        self, col: exp.Column, by_alias: dict[str, tuple[str, Layout | None]]
    ) -> tuple[str, Layout | None] | None:
        return by_alias.get(col.table)

    def _count_outputs(
        self, sel: exp.Select, by_alias: dict[str, tuple[str, Layout | None]]
    ) -> set[str]:
        out = set()
        for p in sel.expressions:
            e = p.unalias()
            while isinstance(e, exp.Cast | exp.Paren):
                e = e.this
            if self._is_count_like(e, by_alias):
                out.add(_output_name(p))
        return out

    def _is_bool(self, col: exp.Column, by_alias: dict[str, tuple[str, Layout | None]]) -> bool:
        """A boolean base column, or an inner query's output that is 0/1 on every row."""
        src = self._source_of(col, by_alias)
        if src is None:
            return False
        table, lay = src
        if lay is None:
            t = TABLES.get(table)
            return t is not None and t.columns.get(col.name, "").upper() == "BOOLEAN"
        return col.name in lay.indicator_columns

    def _indicator_outputs(
        self, sel: exp.Select, by_alias: dict[str, tuple[str, Layout | None]]
    ) -> set[str]:
        out = set()
        for p in sel.expressions:
            vals = constant_values(p.unalias(), lambda c: self._is_bool(c, by_alias))
            if vals is not None and vals <= INDICATOR:
                out.add(_output_name(p))
        return out

    def _check_count_products(
        self, sel: exp.Select, by_alias: dict[str, tuple[str, Layout | None]], aggregating: bool
    ) -> None:
        """Deny an output multiplying a count with another statistic (``avg(x) * count(*)``).

        The static rule ``count-arithmetic`` sees aggregates of one SELECT; here the
        statistics may also be columns of an aggregated inner query or a lifted scalar
        subquery (``avg(x) * (SELECT count(*) …)``), whose layouts say which are counts.
        """
        for p in sel.expressions:
            terms: list[exp.Expression] = []
            for node in p.find_all(exp.AggFunc, exp.Column):
                if isinstance(node, exp.AggFunc):
                    if (
                        aggregating
                        and _is_agg(node)
                        and not any(isinstance(a, exp.AggFunc) for a in _ancestors(node, p))
                    ):
                        terms.append(node)
                    continue
                src = self._source_of(node, by_alias)
                if src is None or src[1] is None or not src[1].aggregated:
                    continue
                if not any(isinstance(a, exp.AggFunc) for a in _ancestors(node, p)):
                    terms.append(node)
            found = count_product(p, terms, lambda t: self._is_count_like(t, by_alias))
            if found is not None:
                raise CountArithmetic(
                    f"{_output_name(p)!r} multiplies the count {found[0].sql('duckdb')} with "
                    f"{found[1].sql('duckdb')}, which rebuilds a total whose checks never ran; "
                    "release the total itself (sum(...)) or the two values as separate columns"
                )

    def _is_count_like(
        self, e: exp.Expression, by_alias: dict[str, tuple[str, Layout | None]]
    ) -> bool:
        if isinstance(e, exp.Filter):
            e = e.this
        if is_count_aggregate(e, lambda c: self._is_bool(c, by_alias)):
            return True
        if isinstance(e, exp.Sum) and isinstance(e.this, exp.Column):
            e = e.this
        if isinstance(e, exp.Column):
            src = self._source_of(e, by_alias)
            return bool(src and src[1] is not None and e.name in src[1].count_columns)
        return False

    def _dominance_cols(
        self, e: exp.Expression, by_alias: dict[str, tuple[str, Layout | None]]
    ) -> tuple[list[exp.Column], list[exp.Column]]:
        """Columns under ``e`` that are dominance measures: (on base tables, from inner scopes)."""
        base, inner = [], []
        for c in e.find_all(exp.Column):
            src = self._source_of(c, by_alias)
            if src is None:
                continue
            table, lay = src
            if lay is None:
                tpol = self.policy.tables.get(table)
                cp = tpol.columns.get(c.name) if tpol else None
                if cp is not None and cp.cls is ColumnClass.MEASURE and cp.dominance:
                    base.append(c)
            elif c.name in lay.dominance_columns:
                inner.append(c)
        return base, inner

    def _dominance_outputs(
        self, sel: exp.Select, by_alias: dict[str, tuple[str, Layout | None]]
    ) -> set[str]:
        out = set()
        for p in sel.expressions:
            base, inner = self._dominance_cols(p, by_alias)
            if base or inner:
                out.add(_output_name(p))
        return out

    def _plan_dominance(
        self,
        sel: exp.Select,
        by_alias: dict[str, tuple[str, Layout | None]],
        exprs: dict[str, exp.Expression],
    ) -> None:
        """For each released additive statistic of a dominance measure, the top-n side query."""
        for p in sel.expressions:
            is_bool = functools.partial(self._is_bool, by_alias=by_alias)
            for _agg, raw, value in additive_terms(p, _is_agg, is_bool):
                base, inner_cols = self._dominance_cols(raw, by_alias)
                if inner_cols:
                    raise ContributorsUnknown(
                        f"dominance of {_output_name(p)!r}: a sum of sums of a measure that "
                        "declares dominance cannot be checked exactly; sum the base rows"
                    )
                if not base:
                    continue
                table, _ = by_alias[base[0].table]
                tpol = self.policy.tables[table]
                if not tpol.entity:
                    continue  # no people behind the rows: nothing to dominate
                keys = self._group_keys(sel, exprs)
                ent = _col(tpol.entity[0], base[0].table)
                if self.fast:
                    self._inline_dominance_bound(value, ent, exprs)
                side = sel.copy()
                side.set("order", None)
                side.set("limit", None)
                side.set("offset", None)
                side.set("having", None)
                side.set("group", None)
                gk = [_alias(k.copy(), f"{HELPER_PREFIX}g{i}") for i, k in enumerate(keys)]
                side.set(
                    "expressions",
                    [*gk, _alias(ent, "__vce_ent"), _alias(value.copy(), "__vce_v")],
                )
                inner_sql = side.sql("duckdb")
                gnames = ", ".join(f'"{HELPER_PREFIX}g{i}"' for i in range(len(keys)))
                n = self.policy.thresholds.dominance_n
                # per-entity subtotals, then per group the n largest (max(x, n) is a top-n
                # aggregate: no window, no sort) and the total
                sql = (
                    f"SELECT {gnames + ', ' if keys else ''}"
                    f"list_sum(max(__vce_s, {n})) AS __vce_top, max(__vce_s) AS __vce_top1, "
                    f"sum(__vce_s) AS __vce_total FROM ("
                    f"SELECT {gnames + ', ' if keys else ''}__vce_ent, "
                    f"sum(__vce_v) AS __vce_s FROM ({inner_sql}) "
                    f"GROUP BY {gnames + ', ' if keys else ''}__vce_ent) "
                    f"{'GROUP BY ' + gnames if keys else ''}"
                )
                self.dominance.append(DominanceSum(_output_name(p), sql))

    def _group_keys(
        self, sel: exp.Select, exprs: dict[str, exp.Expression]
    ) -> list[exp.Expression]:
        """The outermost GROUP BY keys, output as ``__vce_g<i>`` for the side queries' joins."""
        group = sel.args.get("group")
        if group is not None and (
            group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets")
        ):
            raise ContributorsUnknown(
                "dominance and order statistics with ROLLUP/CUBE/GROUPING SETS "
                "cannot be checked exactly; list the GROUP BY keys"
            )
        if group is not None and group.args.get("all"):
            # GROUP BY ALL groups by every output without an aggregate (DuckDB's rule)
            keys = [
                p.unalias()
                for p in sel.expressions
                if not any(_is_agg(a) for a in p.find_all(exp.AggFunc))
            ]
        else:
            keys = list(group.expressions) if group is not None else []
        if not self.group_keys:
            for i, k in enumerate(keys):
                name = f"{HELPER_PREFIX}g{i}"
                self.group_keys.append(name)
                exprs[name] = k.copy()
        return keys

    def _check_quantile_places(self, sel: exp.Select, outermost_grouped: bool) -> None:
        """Order statistics only as outputs of the outermost aggregating SELECT, where checked."""
        for node in _scope_nodes(sel):
            for unit in _quantile_units(node):
                if unit.parent_select is not sel:
                    continue
                top = unit
                while top.parent is not sel:
                    top = top.parent
                in_output = top.arg_key == "expressions"
                if not outermost_grouped or not in_output:
                    raise ContributorsUnknown(
                        f"{unit.sql('duckdb')}: a quantile or median is checked for the people "
                        "below and above it only as an output of the outermost GROUP BY; "
                        "compute it there"
                    )

    def _plan_order_stats(
        self,
        sel: exp.Select,
        by_alias: dict[str, tuple[str, Layout | None]],
        exprs: dict[str, exp.Expression],
    ) -> None:
        """For each released quantile, the side query counting entities below and above it.

        The side query reads the same rows as the group (FROM, joins, WHERE, the quantile's
        own FILTER folded into its argument), recomputes the quantile per group exactly as
        the query does, and counts the distinct entities of the measure's table whose value
        is strictly below and strictly above it (:mod:`vce.policy.checks.order_statistic`).
        """
        for p in sel.expressions:
            for unit in _quantile_units(p):
                measure = _quantile_measure(unit)
                tables = []
                for c in measure.find_all(exp.Column):
                    src = self._source_of(c, by_alias)
                    if src is None:
                        continue
                    if src[1] is not None:
                        raise ContributorsUnknown(
                            f"{unit.sql('duckdb')}: a quantile of values computed by an inner "
                            "query cannot be checked for the people below and above it yet; "
                            "compute it over a table's column"
                        )
                    tpol = self.policy.tables.get(src[0])
                    if tpol is not None and tpol.entity:
                        tables.append((c.table, tpol.entity[0]))
                if not tables:
                    continue  # a quantile over rows about no one (shops, products)
                alias, entity = tables[0]
                keys = self._group_keys(sel, exprs)
                value = measure.copy()
                if isinstance(unit.parent, exp.Filter):
                    value = exp.Case(
                        ifs=[exp.If(this=unit.parent.expression.this.copy(), true=value)]
                    )
                side = sel.copy()
                for arg in ("order", "limit", "offset", "having", "group"):
                    side.set(arg, None)
                gk = [_alias(k.copy(), f"{HELPER_PREFIX}g{i}") for i, k in enumerate(keys)]
                side.set(
                    "expressions",
                    [*gk, _alias(_col(entity, alias), "__vce_ent"), _alias(value, "__vce_v")],
                )
                q = unit.copy()
                target = _quantile_measure(q)
                target.replace(exp.column("__vce_v"))
                self.order_stats.append(
                    OrderStatistic(
                        _output_name(p), _order_stat_sql(side.sql("duckdb"), q, len(keys))
                    )
                )

    def _plan_anti_joins(
        self,
        sel: exp.Select,
        exprs: dict[str, exp.Expression],
        inner: Layout,
        anti_inner: Layout,
        outermost: bool,
    ) -> None:
        """One side query per anti-join of ``sel``: the people it removes, per group."""
        if not outermost or self._in_union:
            raise AntiJoinNotCounted(
                "NOT EXISTS / NOT IN (subquery) is only possible in the outermost aggregating "
                "SELECT (not in a CTE, derived table or UNION ALL branch), where the people it "
                "excludes can be counted per released group; move it there"
            )
        keys = self._group_keys(sel, exprs)
        ids: list[tuple[exp.Expression, str]] = []
        minors: list[exp.Expression] = []
        for layout in (inner, anti_inner):
            for name, slot in layout.slots.items():
                if slot.kind in ("row", "set"):
                    ids.append((exprs[name], slot.kind))
            minors.extend(exprs[f] for f in layout.flags)
        for _, test in self._anti[id(sel)]:
            flipped = exp.Not(this=exp.Paren(this=test.copy()))
            test.replace(flipped)
            removed_rows = sel.copy()
            flipped.replace(test)
            sql = anti_join.side_query(removed_rows, keys, ids, minors)
            self.anti_joins.append(anti_join.AntiJoin(len(self.anti_joins), sql, len(ids)))

    def _plan_dof(self, sel: exp.Select, exprs: dict[str, exp.Expression]) -> None:
        """A ``regr_count`` helper per released regression (its degrees of freedom)."""
        for count in regression.pair_counts(sel.expressions, _is_agg):
            name = f"{HELPER_PREFIX}dof{len(self.dof_columns)}"
            exprs[name] = count
            self.dof_columns.append(name)

    def _check_regression_places(self, sel: exp.Select, top: bool) -> None:
        """Regressions only as outputs of the outermost GROUP BY, where their pairs are counted."""
        if top:
            return
        for node in _scope_nodes(sel):
            for reg in node.find_all(*regression.REGRESSIONS):
                if reg.parent_select is sel:
                    raise ContributorsUnknown(
                        f"{reg.sql('duckdb')}: a regression is checked for its degrees of "
                        "freedom only as an output of the outermost GROUP BY; compute it there"
                    )

    def _plan_cells(self, sel: exp.Select, exprs: dict[str, exp.Expression], inner: Layout) -> None:
        """Count the people behind each *conditional* aggregate of the outermost SELECT.

        ``count_if(age_band = '13-15')``, ``sum(x) FILTER (WHERE …)`` or
        ``sum(CASE WHEN … THEN 1 END)`` summarise only the rows meeting a condition — a
        small cell inside a large group. ``__vce_cellmin`` is the smallest number of distinct
        people behind any such cell of the row (per entity column), an empty cell included,
        checked like a group (:mod:`vce.policy.checks.cells`). Conditions inside HAVING
        aggregates are cells too: whether a group is released must not depend on one person.
        """
        conds = _cell_conditions(sel)
        if not conds or not inner.slots:
            return
        if self.fast and self._plan_cell_counts(conds, exprs, inner):
            return
        terms: list[exp.Expression] = []
        for cond in conds:
            for name, slot in inner.slots.items():
                if slot.kind == "fixed":
                    continue
                e = exp.Case(ifs=[exp.If(this=cond.copy(), true=exprs[name].copy())])
                if slot.kind == "row" and self.fast:
                    agg: exp.Expression = self._hashed_bound(e)
                elif slot.kind == "row":
                    agg = exp.Count(this=exp.Distinct(expressions=[e]))
                else:
                    agg = _fn("len", _fn("list_distinct", _fn("flatten", _fn("list", e))))
                terms.append(agg)  # an empty cell counts: 0 is withheld like 1 (empty-cell)
        if terms:
            name = f"{HELPER_PREFIX}cellmin"
            exprs[name] = (
                terms[0] if len(terms) == 1 else exp.Least(this=terms[0], expressions=terms[1:])
            )
            self.cells = True

    def _plan_cell_counts(
        self, conds: list[exp.Expression], exprs: dict[str, exp.Expression], inner: Layout
    ) -> bool:
        """Bound every cell by its row count where the relation's statistics decide it.

        A cell is a small share of its group, often below what the busiest entities own in
        the whole relation; counted among the rows having its condition's value
        (``is_stem_verified``) it is usually far above it. Each cell's row count becomes a
        helper column ``__vce_cell<i>`` with its :class:`RowBound`; False (nothing planned)
        unless every cell gets one.
        """
        planned: list[tuple[str, exp.Expression, RowBound]] = []
        for cond in conds:
            found = [fixed_value(c, self._is_dim) for c in conjuncts(cond)] if self._is_dim else []
            fixed = self._fixed.plus([f for f in found if f is not None])
            for name, slot in inner.slots.items():
                if slot.kind != "row":
                    return False
                column = f"{HELPER_PREFIX}cell{len(planned)}"
                row_bound = self._row_bound(exprs[name].sql("duckdb"), fixed, column)
                if row_bound is None:
                    return False
                count = exp.Filter(
                    this=exp.Count(this=exp.Star()), expression=exp.Where(this=cond.copy())
                )
                planned.append((column, count, row_bound))
        for column, count, row_bound in planned:
            exprs[column] = count
            self.cell_terms.append(column)
            self.row_bounds.append(row_bound)
        self.cells = bool(planned)
        return bool(planned)

    def _find_relation(
        self, sel: exp.Select, sources: list[tuple[str, str, Layout | None]]
    ) -> None:
        """Whether every group of ``sel`` is a set of rows of one relation, and its dimensions.

        A base table; base tables joined (each joined row carries one id per entity column,
        and a row without one rules statistics out); or a derived table that does not
        aggregate (e.g. ``unnest(hashtag_names)`` over videos). Each must give the same rows
        on every run. Its dimension columns: the tables', or the derived table's outputs that
        are a dimension column of a table it reads. Sets ``_relation`` (its FROM SQL, which the
        statistics are computed over), ``_is_dim`` and ``_fixed``.
        """
        from_ = sel.args.get("from") or sel.args.get("from_")
        if self._in_union or sel.args.get("laterals") or not sources or from_ is None:
            return
        src = from_.this
        joins = sel.args.get("joins") or []
        alias, table, lay = sources[0]
        if joins:  # base tables joined (unnest included): the joined rows are the relation
            if any(lay is not None for _, _, lay in sources) or any(volatile(j) for j in joins):
                return
            by_alias = {a: self._dimensions(t) for a, t, _ in sources}
            relation = " ".join([src.sql("duckdb"), *(j.sql("duckdb") for j in joins)])
            self._is_dim = lambda c: c.name in by_alias.get(c.table, set())
        elif lay is None:
            dims = self._dimensions(table)
            relation = src.sql("duckdb")
            self._is_dim = lambda c: c.table == alias and c.name in dims
        elif isinstance(src, exp.Subquery) and isinstance(src.this, exp.Select):
            inner = src.this
            if volatile(inner) or any(sl.kind != "row" for sl in lay.slots.values()):
                return
            read = [inner.args.get("from") or inner.args.get("from_")]
            read += inner.args.get("joins") or []
            bases = {
                r.this.alias_or_name: r.this.name
                for r in read
                if r is not None and isinstance(r.this, exp.Table) and r.this.name in TABLES
            }
            outs = {
                p.alias_or_name
                for p in inner.expressions
                if isinstance(e := p.unalias(), exp.Column)
                and e.name in self._dimensions(bases.get(e.table, ""))
            }
            relation = src.sql("duckdb")
            self._is_dim = lambda c: c.table == alias and c.name in outs
        else:
            return
        self._relation = relation
        self._fixed = fixed_dimensions(sel, self._is_dim)

    def _dimensions(self, table: str) -> set[str]:
        tpol = self.policy.tables.get(table)
        if tpol is None:
            return set()
        return {c for c, cp in tpol.columns.items() if cp.cls is ColumnClass.DIMENSION}

    def _hashed_bound(self, ids: exp.Expression) -> exp.Expression:
        """:func:`vce.policy.bounds.lower_bound_sql` of ``ids``, sized for the thresholds."""
        words = lower_bound_words(self.policy.thresholds.needed(self.minors_possible))
        bound = lower_bound_sql(ids.sql("duckdb"), words)
        return exp.Paren(this=sqlglot.parse_one(bound, read="duckdb"))

    def _row_bound(self, entity_sql: str, fixed: Fixed, column: str) -> RowBound | None:
        """The :class:`RowBound` of count ``column``, where row counts are likely to decide.

        Records the whole-relation statistics that decide it (``wanted_rows``); ``None``
        without a relation, without them, or when the busiest entities own over a tenth of
        the relation (hashed bits then).
        """
        if self._relation is None:
            return None
        self.wanted_rows.add((self._relation, entity_sql))
        whole = self.stats.rows_of(self._relation, entity_sql)
        th = self.policy.thresholds
        if whole is None or not whole.useful(th.needed(self.minors_possible)):
            return None
        levels = {th.min_entities, *([th.u18_min_entities] if self.minors_possible else [])}
        return RowBound(column, self._relation, entity_sql, fixed, tuple(sorted(levels)))

    def _inline_dominance_bound(
        self,
        value: exp.Expression,
        ent: exp.Expression,
        exprs: dict[str, exp.Expression],
    ) -> None:
        """Upper bound of the top-n share, computed in the main query itself.

        A sum of a measure column of the query's one relation takes the top-n subtotals per
        value of the group's fixed dimensions (:func:`vce.policy.bounds.top_limits`, applied
        per released row): no read of the entity column. Otherwise entities are hashed into
        ``2n`` buckets and the measure is summed per bucket. Every entity's subtotal lies
        inside one bucket's sum, so the n largest bucket sums are at least the n largest
        entity subtotals. Either way a group whose bound is within ``k`` is provably not
        dominated; any other group is recomputed exactly by the side query. Without a
        dominant contributor the hashed bound is near n of 2n buckets, half the total, well
        within typical ``k``; more buckets cost more per row than they decide (measured on
        10M videos: 4 CASE sums 1.45× raw, 8 FILTER sums 1.85×).
        """
        i = len(self.dominance)
        v, e, n = value.sql("duckdb"), ent.sql("duckdb"), self.policy.thresholds.dominance_n
        if self._relation is not None and isinstance(value, exp.Column):
            self.wanted_tops.add((self._relation, e, v))
            if self.stats.tops_of(self._relation, e, v) is not None:  # (never negative)
                exprs[f"{HELPER_PREFIX}dtot{i}"] = sqlglot.parse_one(f"SUM({v})", read="duckdb")
                self.inline_dominance.append(f"{HELPER_PREFIX}dtot{i}")
                self.top_bounds.append(TopBound(i, self._relation, e, v, self._fixed))
                return
        buckets = DOMINANCE_BUCKETS_PER_N * n
        parts = [
            f"SUM(CASE WHEN HASH({e}) % {buckets} = {j} THEN {v} ELSE 0 END)"
            for j in range(buckets)
        ]
        top = f"LIST_SUM(LIST_SLICE(LIST_REVERSE_SORT([{', '.join(parts)}]), 1, {n}))"
        exprs[f"{HELPER_PREFIX}dtop{i}"] = sqlglot.parse_one(top, read="duckdb")
        exprs[f"{HELPER_PREFIX}dtot{i}"] = sqlglot.parse_one(f"SUM({v})", read="duckdb")
        self.inline_dominance.extend([f"{HELPER_PREFIX}dtop{i}", f"{HELPER_PREFIX}dtot{i}"])

    def _finish_select(self, sel: exp.Select, own: Layout, target: Layout, top: bool) -> None:
        """Append the helper columns in ``target``'s order (NULL/0 where this branch has none)."""
        exprs = self._exprs[id(sel)]
        extra: list[exp.Expression] = []
        if top:
            by_alias = {a: (t, lay) for a, t, lay in self._sources_cache(sel)}
            self._round_counts(sel, by_alias)
            for name, slot in sorted(target.slots.items()):
                if slot.kind != "set":
                    continue
                e = exprs.get(name) if name in own.slots and own.slots[name].kind == "set" else None
                # -1: this column does not feed the row (a UNION ALL branch over other
                # tables, NULL from an inner one); 0 is a data zero, withheld (empty-cell)
                e = (
                    exp.Literal.number(NOT_FED)
                    if e is None
                    else exp.Coalesce(this=e, expressions=[exp.Literal.number(NOT_FED)])
                )
                extra.append(_alias(e, _count_column(name)))
            minor_set = [exprs[f] for f in sorted(own.flags) if own.flags[f] == "set"]
            minor_raw = [exprs[f] for f in sorted(own.flags) if own.flags[f] == "row"]
            for name, flag in (
                (f"{HELPER_PREFIX}minor", self._any(minor_set)),
                (f"{HELPER_PREFIX}minor_raw", self._any(minor_raw)),
                (f"{HELPER_PREFIX}raw", exp.Boolean(this=bool(own.raw_tables))),
            ):
                # A constant FALSE column costs a small query a tenth of a millisecond in
                # planning and transfer; a single SELECT leaves it out and says so (UNION ALL
                # branches must keep their columns aligned).
                if own is target and flag == exp.false():
                    self.false_flags.append(name)
                else:
                    extra.append(_alias(flag, name))
            for cell in self.cell_terms:  # (fast pass, one SELECT: see _plan_cell_counts)
                extra.append(_alias(exprs[cell], cell))
            if self.cells and not self.cell_terms:  # aligned across UNION ALL branches
                cell = f"{HELPER_PREFIX}cellmin"
                extra.append(_alias(exprs.get(cell, exp.Literal.number(NOT_FED)), cell))
            for g in [*self.group_keys, *self.inline_dominance, *self.dof_columns]:
                if g in exprs:
                    extra.append(_alias(exprs[g], g))
        else:
            for name, slot in sorted(target.slots.items()):
                e = exprs.get(name)
                if e is None:
                    e = exp.Null()
                elif slot.kind == "set" and own.slots[name].kind == "row":
                    e = exp.If(
                        this=exp.Is(this=e.copy(), expression=exp.Null()),
                        true=exp.Null(),
                        false=exp.Array(expressions=[e]),
                    )
                extra.append(_alias(e, name))
            for f in sorted(target.flags):
                extra.append(_alias(exprs.get(f, exp.Null()), f))
        sel.set("expressions", [*sel.expressions, *extra])

    @staticmethod
    def _any(flags: list[exp.Expression]) -> exp.Expression:
        if not flags:
            return exp.Boolean(this=False)
        parts = [exp.Coalesce(this=f, expressions=[exp.Boolean(this=False)]) for f in flags]
        out: exp.Expression = parts[0]
        for p in parts[1:]:
            out = exp.Or(this=out, expression=p)
        return exp.Paren(this=out)

    def _sources_cache(self, sel: exp.Select) -> list[tuple[str, str, Layout | None]]:
        return self._src_cache.get(id(sel), [])

    @staticmethod
    def _rounded_ratio(node: exp.Expression, avg: exp.Expression, base: int) -> exp.Expression:
        """``avg(e)`` (maybe with FILTER) of a 0/1 ``e`` as ``round(sum(e)) / round(count(e))``."""
        parts = []
        for agg in (exp.Sum(this=avg.this.copy()), exp.Count(this=avg.this.copy())):
            full = agg
            if isinstance(node, exp.Filter):
                full = exp.Filter(this=agg, expression=node.expression.copy())
            parts.append(rounded_sql(full.sql("duckdb"), base))
        return sqlglot.parse_one(
            f"(CAST({parts[0]} AS DOUBLE) / NULLIF({parts[1]}, 0))", read="duckdb"
        )

    def _round_counts(
        self, sel: exp.Select, by_alias: dict[str, tuple[str, Layout | None]]
    ) -> None:
        """Round every count the outermost SELECT outputs (also inside ratios) to the base."""
        base = self.policy.thresholds.rounding
        if base <= 1:
            return
        new = []
        group = sel.args.get("group")
        keys = {k.sql() for k in group.expressions} if group is not None else set()
        for p in sel.expressions:
            touched = False
            if p.unalias().sql() in keys:  # a count used as a histogram key is a dimension
                new.append(p)
                continue
            head = p.unalias()
            while isinstance(head, exp.Cast | exp.Paren):
                head = head.this

            def is_bool(c: exp.Column) -> bool:
                return self._is_bool(c, by_alias)

            def fix(node: exp.Expression, head: exp.Expression = head) -> exp.Expression:
                nonlocal touched
                agg = node.this if isinstance(node, exp.Filter) else node
                if not isinstance(agg, exp.AggFunc) or not _is_agg(agg):
                    agg = None
                if agg is not None and is_count_aggregate(agg, is_bool):
                    # count(*), sum(1), count_if(c), also with FILTER (WHERE ...): round the
                    # (filtered) count
                    touched = True
                    return sqlglot.parse_one(rounded_sql(node.sql("duckdb"), base), "duckdb")
                if agg is not None and is_indicator_avg(agg, is_bool):
                    touched = True  # avg of a 0/1 indicator: the ratio of two rounded counts
                    return self._rounded_ratio(node, agg, base)
                if node is head and self._is_count_like(node, by_alias):
                    # a count passed through from an inner scope, or a sum of such counts
                    touched = True
                    return sqlglot.parse_one(rounded_sql(node.sql("duckdb"), base), "duckdb")
                return node

            name = _output_name(p)
            fixed = (p.this if isinstance(p, exp.Alias) else p).transform(fix, copy=False)
            q = _alias(fixed, name) if touched else p
            if touched:
                self.rounded.append(name)
            new.append(q)
        sel.set("expressions", new)


def _order_stat_sql(inner_sql: str, quantile: exp.Expression, n_keys: int) -> str:
    """Per group, distinct entities strictly below and strictly above ``quantile`` of its rows.

    ``inner_sql`` returns one row per base row: ``__vce_g<i>`` keys, ``__vce_ent``, ``__vce_v``.
    """
    g = [f'"{HELPER_PREFIX}g{i}"' for i in range(n_keys)]
    keys = ", ".join(g)
    on = " AND ".join(f"r.{k} IS NOT DISTINCT FROM q.{k}" for k in g) or "TRUE"
    by = f" GROUP BY {', '.join('r.' + k for k in g)}" if g else ""
    q = quantile.sql("duckdb")
    return (
        f"SELECT {', '.join('r.' + k for k in g) + ', ' if g else ''}"
        "count(DISTINCT r.__vce_ent) FILTER (WHERE r.__vce_v < q.__vce_q) AS __vce_below, "
        "count(DISTINCT r.__vce_ent) FILTER (WHERE r.__vce_v > q.__vce_q) AS __vce_above "
        f"FROM ({inner_sql}) AS r JOIN (SELECT {keys + ', ' if g else ''}{q} AS __vce_q "
        f"FROM ({inner_sql}){' GROUP BY ' + keys if g else ''}) AS q ON {on}{by}"
    )


def _chain_to_union_all(node: exp.Expression) -> None:
    """Turn every UNION of one set-operation chain into UNION ALL (an outer DISTINCT follows)."""
    if isinstance(node, exp.Union):
        node.set("distinct", False)
        _chain_to_union_all(node.left)
        _chain_to_union_all(node.right)


def _distinct_union_as_select(node: exp.Expression) -> exp.Expression:
    """Rewrite ``a UNION b`` as ``SELECT DISTINCT * FROM (a UNION ALL b)``.

    Same rows; but now the deduplication is a GROUP BY whose groups the rewrite can follow,
    so each merged row carries the union of the contributors of the rows it merged.
    """
    if not (isinstance(node, exp.Union) and node.args.get("distinct")):
        return node
    inner = node.copy()
    moved = {k: inner.args.get(k) for k in ("order", "limit", "offset")}
    with_ = inner.args.get("with") or inner.args.get("with_")
    for k in (*moved, "with", "with_"):
        if k in inner.arg_types:
            inner.set(k, None)
    _chain_to_union_all(inner)
    alias = f"{HELPER_PREFIX}u"
    sel = exp.select(
        *[exp.alias_(_col(n, alias), n, quoted=True) for n in node.named_selects]
    ).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    sel.set("distinct", exp.Distinct())
    for k, v in moved.items():
        if v is not None:
            sel.set(k, v)
    if with_ is not None:
        sel.set("with_" if "with_" in sel.arg_types else "with", with_)
    return sel


def rewrite(
    sql: str,
    policy: Policy,
    minors_possible: bool = True,
    stats: RelationStats | None = None,
) -> Rewritten:
    """Qualify ``sql`` against the dataset schema and add the contributor helper columns.

    ``minors_possible=False`` (a project without U18 approval, whose engine reads adult files
    only) leaves out the minor flags: every row is an adult's by construction.
    ``Rewritten.fast_sql``, when set, is the same query with outermost distinct counts
    replaced by lower bounds and dominance shares by upper bounds (:mod:`vce.policy.bounds`;
    row counts where ``stats`` make them decisive, hashed bits otherwise); ``sql``
    (with exact side queries) is always the exact version. ``wanted_rows`` and
    ``wanted_tops`` name the statistics the fast pass could use.

    >>> from vce.policy.model import load_policy
    >>> r = rewrite("SELECT region_code, count(*) AS n FROM videos GROUP BY 1", load_policy())
    >>> r.slots, r.rounded_columns, r.lower_bound_slots
    (('__vce_n__videos__author_id__0',), ('n',), ('__vce_n__videos__author_id__0',))
    >>> 'COUNT(DISTINCT "videos"."author_id")' in r.sql, 'BIT_OR' in r.fast_sql
    (True, True)
    >>> r.false_flags  # an aggregate: no row leaves as it is (minor or not)
    ('__vce_minor_raw', '__vce_raw')
    >>> rewrite("SELECT count(*) AS n FROM videos", load_policy(),
    ...         minors_possible=False).false_flags  # adult files only: no minor anywhere
    ('__vce_minor', '__vce_minor_raw', '__vce_raw')
    """
    key = (sql, id(policy), minors_possible, stats or RelationStats())
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is policy:
        return hit[1]
    exact = None
    # The exact pass does not depend on statistics: reuse it from the plain rewrite of this
    # query (execution always does that one first), only the fast pass is redone.
    plain_key = (sql, id(policy), minors_possible, RelationStats())
    plain = _CACHE.get(plain_key) if key != plain_key else None
    if plain is not None and plain[0] is policy:
        exact = dataclasses.replace(plain[1], **_NO_FAST)
    try:
        tree = sqlglot.parse_one(sql, dialect="duckdb")
        tree = qualify(tree, schema=dataset_schema(), dialect="duckdb")
    except sqlglot.errors.SqlglotError as e:
        raise ContributorsUnknown(f"query could not be qualified for execution: {e}") from e
    result = _rewrite_both(tree, policy, minors_possible, stats, exact)
    _CACHE[key] = (policy, result)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    return result


_CACHE: dict[tuple[object, ...], tuple[Policy, Rewritten]] = {}
_CACHE_SIZE = 256
_FAST_FIELDS = (
    "fast_sql",
    "lower_bound_slots",
    "wanted_rows",
    "wanted_tops",
    "row_bounds",
    "cell_terms",
    "top_bounds",
)
_NO_FAST = {f.name: f.default for f in dataclasses.fields(Rewritten) if f.name in _FAST_FIELDS}


def _rewrite_both(
    tree: exp.Expression,
    policy: Policy,
    minors_possible: bool,
    stats: RelationStats | None,
    exact: Rewritten | None = None,
) -> Rewritten:
    if exact is None:
        exact = _rewrite(tree.copy(), policy, minors_possible, fast=False)
    if exact.order_stats or exact.anti_joins:  # (no bounds: counted exactly, by side query)
        return exact
    fast = _rewrite(tree, policy, minors_possible, True, stats)
    if fast.sql == exact.sql or fast.false_flags != exact.false_flags:
        return exact  # (the checks read one set of helper columns for both)
    return dataclasses.replace(
        exact, **{f: getattr(fast, f) for f in _FAST_FIELDS if f != "fast_sql"}, fast_sql=fast.sql
    )


def _rewrite(
    tree: exp.Expression,
    policy: Policy,
    minors_possible: bool,
    fast: bool,
    stats: RelationStats | None = None,
) -> Rewritten:
    """One rewrite pass over a qualified tree (changed in place); ``fast``: lower bounds."""
    if not isinstance(tree, exp.Query):
        raise ContributorsUnknown("only a single query can be executed")
    for c in tree.find_all(exp.Column, exp.Identifier):
        if c.name.lower().startswith(HELPER_PREFIX):
            raise ContributorsUnknown(f"names starting with {HELPER_PREFIX} are reserved")
    outputs = tuple(tree.named_selects)
    tree = tree.transform(_distinct_union_as_select).transform(mean_as_avg)
    rw = _Rewriter(policy, minors_possible, fast, stats)
    layout = rw.query(tree, {}, top=True)
    raw = frozenset(layout.raw_tables)
    if raw and layout.linked:
        raise LinkedRowExport(
            "rows would leave one by one built from several tables (a join or IN/EXISTS "
            "subquery links them, e.g. by their author); export rows of one table only"
        )
    for t in sorted(raw):
        tpol = policy.tables.get(t)
        if tpol is None or not tpol.row_export_columns:
            raise RowExportNotAllowed(
                f"rows of {t!r} would leave one by one, and the policy does not allow row-level "
                f"export of {t!r}; aggregate with GROUP BY"
            )
    slots = tuple(_count_column(n) for n, s in sorted(layout.slots.items()) if s.kind == "set")
    strict = tuple(
        _count_column(n) for n, s in sorted(layout.slots.items()) if s.kind == "set" and s.strict
    )
    return Rewritten(
        sql=tree.sql("duckdb"),
        slots=slots,
        has_people=bool(layout.slots),
        raw_tables=raw,
        rounded_columns=tuple(dict.fromkeys(rw.rounded)),
        dominance=tuple(rw.dominance),
        group_keys=tuple(rw.group_keys),
        order_stats=tuple(rw.order_stats),
        dof_columns=tuple(rw.dof_columns),
        output_columns=outputs,
        tables=frozenset(rw.base_tables),
        strict_slots=strict,
        cells=rw.cells,
        lower_bound_slots=tuple(_count_column(n) for n in sorted(rw.lower_bound)),
        false_flags=tuple(rw.false_flags),
        wanted_rows=frozenset(rw.wanted_rows),
        wanted_tops=frozenset(rw.wanted_tops),
        row_bounds=tuple(rw.row_bounds),
        cell_terms=tuple(rw.cell_terms),
        top_bounds=tuple(rw.top_bounds),
        anti_joins=tuple(rw.anti_joins),
    )
