"""How column classes flow through a query: the facts every semantic rule reads.

A column's class (identifier, free text, measure, dimension) follows its values through
expressions, CTEs, derived tables and subqueries: ``user_id % 1000`` or ``length(username)``
are still identifiers, ``floor(view_count / 100)`` is a binned measure (a dimension),
``count(DISTINCT author_id)`` is an aggregate. :class:`Flow` walks every scope of a qualified
query once, computes the :class:`Kind` of each expression and records :class:`Fact` s — an
output column, a GROUP BY key, an aggregate call, a comparison, a function call, a window,
a LIMIT. Rules (``vce.policy.rules``) only look at facts; they never walk SQL themselves.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, build_scope

from vce.policy.context import CompiledPolicy
from vce.policy.model import ColumnClass


class Kind(IntEnum):
    """What a value is, from harmless to most protected; combining takes the maximum."""

    CONSTANT = 0  # literals, parameters of functions
    AGGREGATE = 1  # computed over a group of rows
    DIMENSION = 2  # a category: may be grouped and output once aggregated
    MEASURE = 3  # a per-row number: aggregate it or bin it
    FREE_TEXT = 4  # text people wrote: filter on it, count it
    IDENTIFIER = 5  # derived from an identifier (user_id % 10, length(username))
    KEY = 6  # an identifier column itself: the only thing an equi-join may compare

    @property
    def protected(self) -> bool:
        """Identifier, free text or measure: a value of one person."""
        return self >= Kind.MEASURE

    @property
    def identifying(self) -> bool:
        """An identifier or something computed from one."""
        return self >= Kind.IDENTIFIER


CLASS_KIND = {
    ColumnClass.IDENTIFIER: Kind.KEY,
    ColumnClass.FREE_TEXT: Kind.FREE_TEXT,
    ColumnClass.MEASURE: Kind.MEASURE,
    ColumnClass.DIMENSION: Kind.DIMENSION,
}

SINGLE_VALUE_AGGREGATES = frozenset(
    {
        "min",
        "max",
        "any_value",
        "arbitrary",
        "first",
        "last",
        "arg_min",
        "arg_max",
        "argmin",
        "argmax",
        "min_by",
        "max_by",
        "arg_min_null",
        "arg_max_null",
        "list",
        "array_agg",
        "string_agg",
        "group_concat",
        "listagg",
        "histogram",
        "mode",
        "first_value",
        "last_value",
        "nth_value",
        "bit_and",
        "bit_or",
        "bit_xor",
        "bitstring_agg",
        "list_distinct",
        "entropy",
    }
)
"""Aggregates whose result can be one row's value rather than a statistic of many."""

COUNT_LIKE = (exp.Count, exp.ApproxDistinct, exp.CountIf)
RANKING = (
    exp.RowNumber,
    exp.Rank,
    exp.DenseRank,
    exp.Ntile,
    exp.PercentRank,
    exp.CumeDist,
    exp.Lag,
    exp.Lead,
    exp.FirstValue,
    exp.LastValue,
    exp.NthValue,
)
_PREDICATE_FUNCS = (exp.Contains, exp.StartsWith, exp.RegexpLike)
_BIN_INNER = (exp.Log, exp.Ln)
_PASSTHROUGH = (exp.Alias, exp.Paren)
_CONSTANTS = (exp.Literal, exp.Null, exp.Boolean, exp.Var, exp.DataType, exp.Interval)


class Fact(NamedTuple):
    """One observation about the query. ``extra`` depends on the fact's list (see Facts)."""

    node: exp.Expression
    kind: Kind = Kind.CONSTANT
    name: str = ""
    extra: Any = None


@dataclass
class Facts:
    """Everything rules need, grouped by what was observed.

    - ``output``: a column the query returns (``extra``: lineage, a set of (table, column));
    - ``row_level``: a returned SELECT whose rows are rows of a table, not groups
      (``extra``: its output facts);
    - ``group_key``, ``ungrouped``: GROUP BY keys and columns neither grouped nor aggregated;
    - ``aggregate``: aggregate calls (``kind``: most protected argument, ``extra``: count-like);
    - ``compare``: predicates (``name``: operator, ``extra``: (operand kinds, negated));
    - ``function``: function calls (``extra``: allowed by the policy);
    - ``cast``: ``CAST``s that raise on a value they cannot convert (``kind``: the operand's,
      ``name``: the target type);
    - ``window``: window calls (``extra``: (over grouped rows?, key kinds, ranking?));
    - ``limit``: LIMIT / OFFSET (``name``: which, ``extra``: in the returned SELECT?);
    - ``correlated``, ``row_subquery`` (a scalar subquery returning a row's value),
      ``whole_row``, ``unknown_column`` (``extra``: (suggestions, aliases holding it)),
      ``set_operation`` (``extra``: at the top level?).
    """

    lists: dict[str, list[Fact]] = field(default_factory=lambda: defaultdict(list))
    tables: set[str] = field(default_factory=set)

    def __getitem__(self, name: str) -> list[Fact]:
        """The facts of one kind (empty list when none)."""
        return self.lists.get(name, [])

    def add(self, name: str, fact: Fact) -> None:
        """Record ``fact`` under ``name``."""
        self.lists[name].append(fact)


@dataclass
class ScopeInfo:
    """What a scope hands to the scopes reading it: its columns' kinds and lineage."""

    names: list[str]
    kinds: list[Kind]
    lineage: list[frozenset[tuple[str, str]]]
    rows: bool  # True when each output row is a row of a table (not a group)

    def column(self, name: str) -> tuple[Kind, frozenset[tuple[str, str]]] | None:
        """Kind and lineage of output column ``name``, ``None`` when absent."""
        try:
            i = self.names.index(name)
        except ValueError:
            return None
        return self.kinds[i], self.lineage[i]


def combine(kinds: list[Kind] | tuple[Kind, ...]) -> Kind:
    """The kind of a value computed from values of ``kinds``: the most protected one.

    Computing on a key makes it an identifier that no longer joins (``user_id % 10``).

    >>> combine([Kind.DIMENSION, Kind.KEY])
    <Kind.IDENTIFIER: 5>
    >>> combine([])
    <Kind.CONSTANT: 0>
    """
    m = max(kinds, default=Kind.CONSTANT)
    return Kind.IDENTIFIER if m is Kind.KEY else m


def function_name(node: exp.Expression) -> str:
    """The lower-case SQL name of a function node (what researchers typed, mostly)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return type(node).__name__.lower()


def _number(node: exp.Expression | None) -> float | None:
    if isinstance(node, exp.Neg):
        inner = _number(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    return None


def is_binning(node: exp.Expression) -> bool:
    """Whether ``node`` bins a number into few buckets (``floor(x / 100)``, ``round(x, -3)``).

    >>> import sqlglot
    >>> is_binning(sqlglot.parse_one("floor(view_count / 100)"))
    True
    >>> is_binning(sqlglot.parse_one("floor(view_count)"))
    False
    """
    if isinstance(node, exp.Round):
        digits = _number(node.args.get("decimals"))
        if digits is not None and digits < 0:
            return True
    if isinstance(node, (exp.Floor, exp.Ceil, exp.Round)):
        for sub in node.this.walk():
            if isinstance(sub, _BIN_INNER):
                return True
            if isinstance(sub, exp.Div):
                divisor = _number(sub.expression)
                if divisor is not None and divisor >= 2:
                    return True
    return False


def _membership(sel: exp.Expression) -> bool:
    """Whether ``sel`` is the subquery of an ``IN (SELECT …)`` test."""
    sub = sel.parent
    return isinstance(sub, exp.Subquery) and isinstance(sub.parent, exp.In)


class Flow:
    """Walks the scopes of a qualified query and records :class:`Facts`."""

    def __init__(self, tree: exp.Expression, compiled: CompiledPolicy) -> None:
        """Analyse ``tree`` (qualified against ``compiled.schema``) right away."""
        self.cp = compiled
        self.facts = Facts()
        self._infos: dict[int, ScopeInfo] = {}
        self._scope_of: dict[int, Scope] = {}
        self._aliases: dict[int, dict[str, Kind]] = {}
        root = build_scope(tree)
        if root is None:
            raise ValueError("not a query")
        for scope in root.traverse():
            self._scope_of[id(scope.expression)] = scope
        self._branches: set[int] = set()
        self._collect_branches(root, top=True)
        for scope in root.traverse():
            self.info(scope)

    # -- scopes -------------------------------------------------------------------------
    def _collect_branches(self, scope: Scope, top: bool) -> None:
        node = scope.expression
        if isinstance(node, exp.SetOperation):
            if not isinstance(node, exp.Union):
                self.facts.add("set_operation", Fact(node, name=node.key, extra=top))
            for child in scope.set_operation_scopes:
                self._collect_branches(child, top)
        elif top:
            self._branches.add(id(node))

    def info(self, scope: Scope) -> ScopeInfo:
        """Kinds and lineage of ``scope``'s output columns (computed once)."""
        key = id(scope)
        cached = self._infos.get(key)
        if cached is not None:
            return cached
        self._infos[key] = ScopeInfo([], [], [], False)  # re-entry (a cycle) sees no columns
        node = scope.expression
        if isinstance(node, exp.SetOperation):
            result = self._union_info(scope)
        elif isinstance(node, exp.Select):
            result = self._select_info(scope)
        else:  # VALUES and the like: constants
            names = [c.alias_or_name for c in getattr(node, "expressions", [])]
            result = ScopeInfo(
                names, [Kind.CONSTANT] * len(names), [frozenset()] * len(names), False
            )
        self._infos[key] = result
        return result

    def _union_info(self, scope: Scope) -> ScopeInfo:
        parts = [self.info(s) for s in scope.set_operation_scopes]
        node = scope.expression
        first = parts[0]
        if node.args.get("by_name"):  # UNION BY NAME lines columns up by name, not position
            names: list[str] = []
            for part in parts:
                names.extend(n for n in part.names if n not in names)
            found = [[p.column(n) for p in parts] for n in names]
            kinds = [
                Kind.KEY
                if all(f is not None and f[0] is Kind.KEY for f in fs)
                else combine([f[0] if f else Kind.CONSTANT for f in fs])
                for fs in found
            ]
            lineage = [frozenset().union(*(f[1] for f in fs if f)) for fs in found]
            first = ScopeInfo(names, kinds, lineage, False)
        kinds = list(first.kinds)
        lineage = list(first.lineage)
        for part in [] if node.args.get("by_name") else parts[1:]:
            for i in range(min(len(kinds), len(part.kinds))):
                pair = (kinds[i], part.kinds[i])
                # a key only when every branch gives a key: SELECT user_id … UNION SELECT 42
                kinds[i] = Kind.KEY if pair == (Kind.KEY, Kind.KEY) else combine(pair)
                lineage[i] = lineage[i] | part.lineage[i]
        top = id(node) == id(self._root_expression(scope))
        for arg in ("limit", "offset"):
            if node.args.get(arg) is not None:
                self.facts.add("limit", Fact(node.args[arg], name=arg, extra=top))
        return ScopeInfo(list(first.names), kinds, lineage, any(p.rows for p in parts))

    @staticmethod
    def _root_expression(scope: Scope) -> exp.Expression:
        while scope.parent is not None:
            scope = scope.parent
        return scope.expression

    def _source_rows(self, scope: Scope) -> bool:
        for source in scope.selected_sources.values():
            src = source[1] if isinstance(source, tuple) else source
            if isinstance(src, exp.Table):
                return True
            if isinstance(src, Scope) and self.info(src).rows:
                return True
        return False

    def _select_info(self, scope: Scope) -> ScopeInfo:
        sel: exp.Select = scope.expression  # type: ignore[assignment]
        for name, source in scope.selected_sources.items():
            src = source[1] if isinstance(source, tuple) else source
            if isinstance(src, exp.Table) and not isinstance(src.this, exp.Func):
                self.facts.tables.add(src.name)
            del name
        projections = list(sel.expressions)
        keys = self._group_keys(sel, projections)
        aggregated = keys is not None or any(self._has_aggregate(p) for p in projections)
        having = sel.args.get("having")
        if having is not None and self._has_aggregate(having):
            aggregated = True
        key_kinds: dict[exp.Expression, Kind] = {}
        for k in keys or []:
            kk = self.kind(k, scope, False, None)
            key_kinds[k] = kk
            self.facts.add("group_key", Fact(k, kk))
        keymap = key_kinds if aggregated else None
        for join in sel.args.get("joins") or []:
            on = join.args.get("on")
            if on is not None:
                self.condition(on, scope, False, None)
        where = sel.args.get("where")
        if where is not None:
            self.condition(where.this, scope, False, None)
        kinds: list[Kind] = []
        lineage: list[frozenset[tuple[str, str]]] = []
        aliases: dict[str, Kind] = {}
        self._aliases[id(scope)] = aliases
        for p in projections:
            k = self.kind(p.unalias(), scope, aggregated, keymap)
            kinds.append(k)
            lineage.append(self._lineage(p, scope))
            aliases[p.alias_or_name] = k
        if having is not None:
            self.condition(having.this, scope, True, key_kinds)
        qualify = sel.args.get("qualify")
        if qualify is not None:
            self.condition(qualify.this, scope, aggregated, keymap)
        order = sel.args.get("order")
        if order is not None:
            for o in order.expressions:
                ok = self.kind(o.this, scope, aggregated, keymap, order=True)
                if ok.identifying:  # ordering by an identifier picks people by their id
                    self.facts.add("compare", Fact(o, ok, "order", ((ok,), False)))
        top = id(sel) in self._branches
        for arg in ("limit", "offset"):
            if sel.args.get(arg) is not None:
                self.facts.add("limit", Fact(sel.args[arg], name=arg, extra=top))
        rows = not aggregated and self._source_rows(scope)
        names = list(sel.named_selects)
        result = ScopeInfo(names, kinds, lineage, rows)
        if top:
            outputs = []
            for p, k, lin in zip(projections, kinds, lineage, strict=False):
                fact = Fact(p, k, p.alias_or_name, lin)
                outputs.append(fact)
                self.facts.add("output", fact)
            if rows:
                self.facts.add("row_level", Fact(sel, extra=tuple(outputs)))
        return result

    def _group_keys(self, sel: exp.Select, projections: list[exp.Expression]) -> list | None:
        group = sel.args.get("group")
        distinct = sel.args.get("distinct")
        if distinct is not None and _membership(sel):
            distinct = None  # x IN (SELECT DISTINCT k …) is x IN (SELECT k …)
        keys: list[exp.Expression] | None = None
        if group is not None:
            keys = []
            if group.args.get("all"):
                keys.extend(p.unalias() for p in projections if not self._has_aggregate(p))
            sets = (exp.Rollup, exp.Cube, exp.GroupingSets)
            parts = list(group.expressions)
            for arg in ("grouping_sets", "cube", "rollup"):
                parts.extend(group.args.get(arg) or [])
            for part in parts:
                if isinstance(part, sets):
                    self.facts.add("grouping_sets", Fact(part, name=part.key))
                    keys.extend(part.find_all(exp.Column))
                else:
                    keys.append(part)
        if distinct is not None:
            keys = keys or []
            on = distinct.args.get("on")
            if on is not None:
                keys.extend(on.expressions if isinstance(on, exp.Tuple) else [on])
            else:
                keys.extend(p.unalias() for p in projections)
        return keys

    def _has_aggregate(self, node: exp.Expression) -> bool:
        for sub in node.walk(prune=lambda n: isinstance(n, (exp.Subquery, exp.Window, exp.Select))):
            if isinstance(sub, (exp.Subquery, exp.Window, exp.Select)) and sub is not node:
                continue
            if self.is_aggregate(sub):
                return True
        return False

    def is_aggregate(self, node: exp.Expression) -> bool:
        """Whether ``node`` is an aggregate function call."""
        if isinstance(node, exp.AggFunc):
            return True
        if isinstance(node, exp.Anonymous):
            name = str(node.name).lower()
            return name in self.cp.policy.aggregate_functions or name in SINGLE_VALUE_AGGREGATES
        return False

    def _lineage(self, node: exp.Expression, scope: Scope) -> frozenset[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for col in node.find_all(exp.Column):
            resolved = self._resolve(col, scope, record=False)
            if resolved is not None:
                out |= resolved[1]
        return frozenset(out)

    # -- columns ------------------------------------------------------------------------
    def _resolve(
        self, col: exp.Column, scope: Scope, record: bool = True
    ) -> tuple[Kind, frozenset[tuple[str, str]]] | None:
        name = col.name
        table = col.table
        s: Scope | None = scope
        src: Any = None
        while s is not None and table:
            src = s.sources.get(table)
            if src is not None:
                break
            s = s.parent
        if isinstance(src, exp.Table):
            cls = self.cp.column_class(src.name, name)
            if cls is not None:
                return CLASS_KIND[cls], frozenset({(src.name, name)})
        elif isinstance(src, Scope):
            found = self.info(src).column(name)
            if found is not None:
                return found
        elif not table:
            alias = self._aliases.get(id(scope), {}).get(name)
            if alias is not None:
                return alias, frozenset()
        if record:
            holders = [] if table else self._holders(name, scope)
            extra = (self._suggest(name, scope), holders)
            self.facts.add("unknown_column", Fact(col, name=name, extra=extra))
        return None

    def _holders(self, name: str, scope: Scope) -> list[str]:
        """Aliases of the sources in ``scope`` that have a column ``name`` (ambiguity)."""
        out = []
        for alias, src in scope.sources.items():
            if isinstance(src, exp.Table) and name in self.cp.classes.get(src.name, {}):
                out.append(alias)
            elif isinstance(src, Scope):
                done = self._infos.get(id(src))
                if done is not None and name in done.names:
                    out.append(alias)
        return sorted(out)

    def _suggest(self, name: str, scope: Scope) -> list[str]:
        known: set[str] = set()
        s: Scope | None = scope
        while s is not None:
            for src in s.sources.values():
                if isinstance(src, exp.Table):
                    known.update(self.cp.classes.get(src.name, {}))
                elif isinstance(src, Scope) and id(src) in self._infos:
                    known.update(self._infos[id(src)].names)
            s = s.parent
        return difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)

    # -- expressions --------------------------------------------------------------------
    def _sub_scope(self, node: exp.Expression) -> Scope | None:
        inner = node
        while isinstance(inner, exp.Subquery):
            inner = inner.this
        return self._scope_of.get(id(inner))

    def kind(
        self,
        node: exp.Expression,
        scope: Scope,
        agg: bool,
        keys: dict[exp.Expression, Kind] | None,
        neg: bool = False,
        order: bool = False,
    ) -> Kind:
        """The kind of ``node`` in ``scope``; ``agg``: evaluated once per group."""
        if keys and node in keys:
            return keys[node]
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                self.facts.add("whole_row", Fact(node))
                return Kind.KEY
            resolved = self._resolve(node, scope)
            if resolved is None:  # reported as unknown-column, which denies on its own
                return Kind.CONSTANT
            if agg and not (order and not node.table) and self._local(node, scope):
                self.facts.add("ungrouped", Fact(node, resolved[0], node.name))
            return resolved[0]
        if isinstance(node, exp.TableColumn):
            self.facts.add("whole_row", Fact(node, name=node.name))
            return Kind.CONSTANT
        if isinstance(node, _CONSTANTS):
            return Kind.CONSTANT
        if isinstance(node, exp.Star):
            self.facts.add("whole_row", Fact(node))
            return Kind.KEY
        if isinstance(node, _PASSTHROUGH):
            return self.kind(node.this, scope, agg, keys, neg, order)
        if isinstance(node, exp.Not):
            return self.kind(node.this, scope, agg, keys, not neg)
        if isinstance(node, (exp.Subquery, exp.Select, exp.SetOperation)):
            return self._scalar_subquery(node)
        if isinstance(node, exp.Exists):
            sub = self._sub_scope(node.this)
            if sub is not None:
                self.info(sub)
            return Kind.DIMENSION
        if isinstance(node, exp.In):
            return self._in(node, scope, agg, keys, neg)
        if isinstance(node, exp.Window):
            return self._window(node, scope, agg, keys)
        if isinstance(node, exp.Filter):
            where = node.expression
            self.condition(
                where.this if isinstance(where, exp.Where) else where, scope, False, None
            )
            return self.kind(node.this, scope, agg, keys, neg)
        if isinstance(node, exp.WithinGroup):  # percentile_cont(0.5) WITHIN GROUP (ORDER BY x)
            return self._within_group(node, scope)
        if self.is_aggregate(node):
            return self._aggregate(node, scope, inner_agg=False, keys=None)
        if isinstance(node, exp.Case):
            return self._case(node, scope, agg, keys, neg)
        if isinstance(node, exp.If):
            self._function(node)
            self.condition(node.this, scope, agg, keys, neg)
            vals = [node.args.get("true"), node.args.get("false")]
            return combine([self.kind(v, scope, agg, keys) for v in vals if v is not None])
        if isinstance(node, (exp.Predicate, *_PREDICATE_FUNCS)):
            return self._compare(node, scope, agg, keys, neg)
        kinds = [self.kind(c, scope, agg, keys) for c in self._children(node)]
        k = combine(kinds)
        if isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast):
            self.facts.add("cast", Fact(node, k, node.to.sql(dialect="duckdb").upper()))
        if isinstance(node, exp.Func) and not isinstance(node, exp.Connector):  # AND/OR/XOR
            self._function(node)
            if k is Kind.MEASURE and is_binning(node):
                return Kind.DIMENSION
        return k

    def condition(
        self,
        node: exp.Expression,
        scope: Scope,
        agg: bool,
        keys: dict[exp.Expression, Kind] | None,
        neg: bool = False,
    ) -> Kind:
        """Kind of a filter condition, recording identifier-derived conditions.

        A condition still computed from an identifier (a function returning a boolean, such
        as ``list_contains([42], user_id)``) is recorded as a comparison on it.
        """
        k = self.kind(node, scope, agg, keys, neg)
        if k.identifying:
            self.facts.add("compare", Fact(node, k, "filter", ((k,), neg)))
        return k

    @staticmethod
    def _children(node: exp.Expression) -> list[exp.Expression]:
        out: list[exp.Expression] = []
        for value in node.args.values():
            if isinstance(value, exp.Expression):
                out.append(value)
            elif isinstance(value, list):
                out.extend(v for v in value if isinstance(v, exp.Expression))
        return out

    def _local(self, col: exp.Column, scope: Scope) -> bool:
        return not col.table or col.table in scope.sources

    def _function(self, node: exp.Expression) -> None:
        cp = self.cp
        allowed = type(node) in cp.function_types or (
            isinstance(node, exp.Anonymous) and str(node.name).lower() in cp.function_names
        )
        if not allowed and isinstance(node, (exp.Cast, exp.TryCast)):
            allowed = isinstance(node.this, exp.Literal)
        if not allowed and isinstance(node, exp.Array):
            allowed = all(isinstance(e, _CONSTANTS) for e in node.expressions)
        self.facts.add("function", Fact(node, name=function_name(node), extra=allowed))

    def _aggregate(
        self,
        node: exp.Expression,
        scope: Scope,
        inner_agg: bool,
        keys: dict[exp.Expression, Kind] | None,
    ) -> Kind:
        self._function(node)
        args: list[exp.Expression] = []
        for c in self._children(node):
            if isinstance(c, exp.Distinct):
                args.extend(c.expressions)
            elif not isinstance(c, exp.Star):
                args.append(c)
        count_like = isinstance(node, COUNT_LIKE) or function_name(node) == "count_if"
        if isinstance(node, exp.CountIf) or function_name(node) == "count_if":
            kinds = [self.condition(a, scope, inner_agg, keys) for a in args]
        else:
            kinds = [self.kind(a, scope, inner_agg, keys) for a in args]
        self.facts.add(
            "aggregate",
            Fact(node, max(kinds, default=Kind.CONSTANT), function_name(node), count_like),
        )
        return Kind.AGGREGATE

    def _within_group(self, node: exp.WithinGroup, scope: Scope) -> Kind:
        func = node.this
        self._function(func)
        order = node.expression
        args = list(order.expressions) if isinstance(order, exp.Order) else [order]
        kinds = [self.kind(getattr(a, "this", a), scope, False, None) for a in args]
        kinds += [self.kind(c, scope, False, None) for c in self._children(func)]
        name = function_name(func)
        self.facts.add("aggregate", Fact(func, max(kinds, default=Kind.CONSTANT), name, False))
        return Kind.AGGREGATE

    def _window(
        self, node: exp.Window, scope: Scope, agg: bool, keys: dict[exp.Expression, Kind] | None
    ) -> Kind:
        func = node.this
        key_kinds = [self.kind(p, scope, agg, keys) for p in node.args.get("partition_by") or []]
        order = node.args.get("order")
        if order is not None:
            key_kinds += [self.kind(o.this, scope, agg, keys) for o in order.expressions]
        if self.is_aggregate(func):
            self._aggregate(func, scope, inner_agg=agg, keys=keys)
        else:
            self._function(func)
            for c in self._children(func):
                key_kinds.append(self.kind(c, scope, agg, keys))
        ranking = isinstance(func, RANKING) or not self.is_aggregate(func)
        over_groups = agg or not self._source_rows(scope)  # grouped here, or reading groups
        self.facts.add(
            "window", Fact(node, combine(key_kinds), function_name(func), (over_groups, ranking))
        )
        return Kind.AGGREGATE

    def _case(
        self,
        node: exp.Case,
        scope: Scope,
        agg: bool,
        keys: dict[exp.Expression, Kind] | None,
        neg: bool,
    ) -> Kind:
        self._function(node)
        operand = node.args.get("this")
        op_kind = self.kind(operand, scope, agg, keys) if operand is not None else None
        values: list[Kind] = []
        for branch in node.args.get("ifs") or []:
            cond = branch.this
            if op_kind is None:
                self.condition(cond, scope, agg, keys, neg)
            else:
                ck = self.kind(cond, scope, agg, keys)
                self.facts.add(
                    "compare", Fact(branch, combine([op_kind, ck]), "eq", ((op_kind, ck), neg))
                )
            values.append(self.kind(branch.args["true"], scope, agg, keys))
        default = node.args.get("default")
        if default is not None:
            values.append(self.kind(default, scope, agg, keys))
        return combine(values)

    def _compare(
        self,
        node: exp.Expression,
        scope: Scope,
        agg: bool,
        keys: dict[exp.Expression, Kind] | None,
        neg: bool,
    ) -> Kind:
        if isinstance(node, exp.Func):
            self._function(node)
        operands = tuple(self.kind(c, scope, agg, keys) for c in self._children(node))
        self.facts.add(
            "compare", Fact(node, max(operands, default=Kind.CONSTANT), node.key, (operands, neg))
        )
        return self._predicate_kind(operands)

    @staticmethod
    def _predicate_kind(operands: tuple[Kind, ...]) -> Kind:
        m = max(operands, default=Kind.CONSTANT)
        return Kind.DIMENSION if m >= Kind.DIMENSION else m

    def _in(
        self,
        node: exp.In,
        scope: Scope,
        agg: bool,
        keys: dict[exp.Expression, Kind] | None,
        neg: bool,
    ) -> Kind:
        left = self.kind(node.this, scope, agg, keys)
        query = node.args.get("query")
        if query is not None:
            right = [self._scalar_subquery(query, membership=True)]
            name = "in_subquery"
        else:
            right = [self.kind(e, scope, agg, keys) for e in node.expressions]
            name = "in"
        operands = (left, *right)
        self.facts.add("compare", Fact(node, max(operands), name, (operands, neg)))
        return self._predicate_kind(operands)

    def _scalar_subquery(self, node: exp.Expression, membership: bool = False) -> Kind:
        sub = self._sub_scope(node)
        if sub is None:  # not a query we know: never a key
            return Kind.CONSTANT
        info = self.info(sub)
        if not membership and sub.is_correlated_subquery:
            self.facts.add("correlated", Fact(node))
        elif not membership and info.rows:  # the value of whichever single row it finds
            self.facts.add("row_subquery", Fact(node))
        return info.kinds[0] if info.kinds else Kind.CONSTANT
