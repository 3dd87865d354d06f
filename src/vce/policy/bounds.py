"""Provable bounds that let the fast pass skip exact counting (pure SQL builders, no I/O).

The fast pass of trusted execution (:mod:`vce.policy.execute`) replaces exact distinct counts
by *lower* bounds and the dominance share by an *upper* bound; a row whose bound does not
decide its check sends the query on to exact counting. Three kinds of bound, cheapest first:

* **row counts** — a group of one table with more rows than its ``T - 1`` busiest entities
  own together has at least ``T`` entities (:class:`EntityRows`, :func:`rows_bound_sql`);
* **row counts per value** — the same, with the busiest entities counted only among the rows
  having the value the group is restricted to (``region_code = 'AT'``, a GROUP BY key, the
  condition of a conditional aggregate): a prolific author owns few of the STEM videos of
  one region (:class:`ValueStats`, :func:`fixed_dimensions`, :func:`row_limit_sql`). The
  same per-value statistics bound the ``n`` largest contributions to a sum
  (:func:`top_limit_sql`);
* **hashed bits** — ids hashed onto bits, the bits hit counted (:func:`lower_bound_sql`).

The first two never read the entity column in the query; the statistics they need are
computed once per set of files (:func:`vce.policy.engine.entity_rows`,
:func:`vce.policy.engine.value_stats`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

ROWS_BOUND_SHARE = 10  # row-count bounds when groups over 1/10 of a table are decided
MAX_VALUES = 256  # dimensions with more values get no per-value statistics
Value = str | bool | int
"""A dimension value the statistics are kept for (other types are never looked up)."""


def lower_bound_sql(expr_sql: str, words: int = 1) -> str:
    """SQL for a cheap, *provable* lower bound on ``count(DISTINCT expr)`` in a group.

    Ids are hashed onto ``64 * words`` bits and the bits hit are counted: equal ids always
    hit the same bit, so the bits hit never exceed the distinct ids (and are 0 only when
    there are none). Each word is a ``bit_or`` over a 64-bit integer: a few bytes of state
    per group instead of a hash set. Groups whose bound is below a threshold are recounted
    exactly (see :mod:`vce.policy.execute`). One word suffices for thresholds near 10,
    four for 50.

    >>> sql = lower_bound_sql("v.author_id")
    >>> sql.startswith("COALESCE(CAST(BIT_COUNT(BIT_OR(CASE WHEN v.author_id IS NOT NULL")
    True
    >>> lower_bound_sql("x", 4).count("BIT_OR")
    4
    """
    if words == 1:
        terms = [f"CAST(1 AS UBIGINT) << (HASH({expr_sql}) % 64)"]
        conds = [f"{expr_sql} IS NOT NULL"]
    else:
        terms = [f"CAST(1 AS UBIGINT) << ((HASH({expr_sql}) // {words}) % 64)"] * words
        conds = [
            f"{expr_sql} IS NOT NULL AND HASH({expr_sql}) % {words} = {w}" for w in range(words)
        ]
    return " + ".join(
        f"COALESCE(CAST(BIT_COUNT(BIT_OR(CASE WHEN {c} THEN {t} END)) AS INT), 0)"
        for c, t in zip(conds, terms, strict=True)
    )


def lower_bound_words(threshold: int) -> int:
    """64-bit words a bound needs so that groups a little above ``threshold`` pass.

    >>> lower_bound_words(10), lower_bound_words(50)
    (1, 4)
    """
    return max(1, -(-threshold * 4 // 64))


@dataclass(frozen=True)
class EntityRows:
    """How many rows the busiest entities of one entity column own, in the files a view reads.

    ``busiest[j]`` is the number of rows of the ``j + 1`` busiest entities together; ``total``
    the rows of the table (or of the rows having one value, see :class:`ValueStats`);
    computed by :func:`vce.policy.engine.entity_rows` over exactly the files the query reads.
    Only columns without NULLs get one (then every row has an entity).
    """

    total: int
    busiest: tuple[int, ...]

    def rows_of(self, entities: int) -> int:
        """Most rows any ``entities`` distinct entities can own together.

        >>> EntityRows(100, (40, 60, 70)).rows_of(2), EntityRows(100, (40,)).rows_of(5)
        (60, 100)
        """
        if entities <= 0:
            return 0
        if entities <= len(self.busiest):
            return self.busiest[entities - 1]
        return self.total

    def useful(self, threshold: int) -> bool:
        """Whether the row-count bound decides typical groups (else hash bits are cheaper).

        Groups of at most ``rows_of(threshold - 1)`` rows are not decided by their row
        count, and the hashed pass runs after it: a wrong guess costs one scan that reads no
        entity column. When those rows are at most a tenth of the rows counted, the groups
        analyses publish (months, regions, bands: several percent each) are above it.

        >>> EntityRows(10_000, (20, 30)).useful(3), EntityRows(100, (50,)).useful(2)
        (True, False)
        """
        return self.rows_of(threshold - 1) * ROWS_BOUND_SHARE <= self.total


def rows_bound_sql(count_sql: str, limits: Mapping[int, str]) -> str:
    """A provable lower bound on the distinct entities of a group, from its row count alone.

    A group of ``c`` rows with ``d`` distinct entities has ``c`` at most the rows of its
    ``d`` busiest entities; so ``c > limits[T]`` (the most rows ``T - 1`` entities can own
    in this group, :func:`row_limit_sql`) proves ``d >= T``, and ``c > 0`` proves ``d >= 1``
    (the column has no NULLs). The bound is one of the thresholds (or 1, or 0 = exact):
    enough for the checks, and it needs no read of the entity column at all.

    >>> rows_bound_sql("c", {3: "90", 10: "1000"})
    'CASE WHEN c > 1000 THEN 10 WHEN c > 90 THEN 3 WHEN c > 0 THEN 1 ELSE 0 END'
    """
    whens = "".join(
        f"WHEN {count_sql} > {limits[t]} THEN {t} " for t in sorted(limits, reverse=True) if t > 1
    )
    return f"CASE {whens}WHEN {count_sql} > 0 THEN 1 ELSE 0 END"


@dataclass(frozen=True)
class ValueStats:
    """Statistics per value of dimension columns, computed on the files a query reads.

    ``rows[(table, entity, dimension)]``: per value, the :class:`EntityRows` of the rows
    having it. ``tops[(table, entity, dimension, measure)]``: per value, the sum of the
    ``n`` largest per-entity subtotals of the measure over the rows having it (dimension
    ``""``: over the whole table); kept only for measures never negative, where a subset of
    an entity's rows never sums to more than all of them.
    """

    rows: tuple[tuple[tuple[str, str, str], tuple[tuple[Value, EntityRows], ...]], ...] = ()
    tops: tuple[tuple[tuple[str, str, str, str], tuple[tuple[Value, int], ...]], ...] = ()
    _rows: dict[tuple[str, str, str], dict[Value, EntityRows]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )
    _tops: dict[tuple[str, str, str, str], dict[Value, int]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        """Index both tuples by key once (the tuples keep the object hashable)."""
        self._rows.update((k, dict(v)) for k, v in self.rows)
        self._tops.update((k, dict(v)) for k, v in self.tops)

    def value_rows(self, table: str, entity: str, dim: str) -> dict[Value, EntityRows] | None:
        """Per-value busiest-entity rows of ``table.dim``, ``None`` when not computed."""
        return self._rows.get((table, entity, dim))

    def value_tops(self, table: str, entity: str, dim: str, measure: str) -> dict[Value, int]:
        """Per-value top-n subtotals of ``measure`` (empty when not computed)."""
        return self._tops.get((table, entity, dim, measure), {})


@dataclass(frozen=True)
class Fixed:
    """Dimension columns a group is restricted to: constant values, and per-row GROUP BY keys."""

    values: tuple[tuple[str, Value], ...] = ()
    keys: tuple[tuple[str, str], ...] = ()  # (column, its SQL in the grouped SELECT)

    def columns(self) -> set[str]:
        """Every column the group is restricted on."""
        return {c for c, _ in self.values} | {c for c, _ in self.keys}

    def plus(self, values: Iterable[tuple[str, Value]]) -> Fixed:
        """The same restrictions and ``values`` (a conditional aggregate's condition)."""
        return Fixed((*self.values, *values), self.keys)


def literal_value(node: exp.Expression) -> Value | None:
    """The Python value of a string, integer or boolean literal (else ``None``).

    >>> import sqlglot
    >>> [literal_value(sqlglot.parse_one(s)) for s in ("'AT'", "3", "TRUE", "1.5", "x")]
    ['AT', 3, True, None, None]
    """
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return str(node.this)
        if node.is_int:
            return int(node.this)
    return None


def conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    """The parts of an AND chain (parentheses looked through).

    >>> import sqlglot
    >>> [c.sql() for c in conjuncts(sqlglot.parse_one("a = 1 AND (b AND NOT c)"))]
    ['a = 1', 'b', 'NOT c']
    """
    if node is None:
        return []
    if isinstance(node, exp.Paren):
        return conjuncts(node.this)
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


def fixed_value(cond: exp.Expression, alias: str) -> tuple[str, Value] | None:
    """``(column, value)`` when ``cond`` holds only on rows of ``alias`` where column = value.

    >>> import sqlglot
    >>> [fixed_value(sqlglot.parse_one(s), "v") for s in
    ...  ("v.region_code = 'AT'", "3 = v.n", "v.is_stem", "NOT v.is_stem", "w.x = 1", "v.a > 1")]
    [('region_code', 'AT'), ('n', 3), ('is_stem', True), ('is_stem', False), None, None]
    """
    if isinstance(cond, exp.Paren):
        return fixed_value(cond.this, alias)
    if isinstance(cond, exp.Column):
        return (cond.name, True) if cond.table == alias else None
    if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Column):
        return (cond.this.name, False) if cond.this.table == alias else None
    if isinstance(cond, exp.EQ):
        for col, lit in ((cond.this, cond.expression), (cond.expression, cond.this)):
            value = literal_value(lit)
            if isinstance(col, exp.Column) and col.table == alias and value is not None:
                return col.name, value
    return None


def fixed_dimensions(sel: exp.Select, alias: str, dimensions: set[str]) -> Fixed:
    """What restricts every group of ``sel`` (one base table ``alias``) to one value.

    WHERE conjuncts ``col = literal`` (or a bare boolean column) and plain GROUP BY keys
    (positional ones resolved; with GROUP BY ALL the plain columns output), for columns in
    ``dimensions``.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT v.r, count(*) FROM videos AS v "
    ...     "WHERE v.lang = 'de' AND v.x > 1 GROUP BY 1")
    >>> fixed_dimensions(q, "v", {"r", "lang"})
    Fixed(values=(('lang', 'de'),), keys=(('r', '"v"."r"'),))
    """
    values = []
    where = sel.args.get("where")
    for cond in conjuncts(where.this if where is not None else None):
        found = fixed_value(cond, alias)
        if found is not None and found[0] in dimensions:
            values.append(found)
    keys = []
    group = sel.args.get("group")
    listed = list(group.expressions) if group is not None else []
    every = group is not None and bool(group.args.get("all"))
    if every:  # GROUP BY ALL: the plain columns output are keys
        listed += [p.unalias() for p in sel.expressions]
    for key in listed:
        if isinstance(key, exp.Literal) and key.is_int:  # GROUP BY 1
            i = int(key.this) - 1
            key = sel.expressions[i].unalias() if 0 <= i < len(sel.expressions) else key
        if isinstance(key, exp.Column) and key.table == alias and key.name in dimensions:
            col = exp.column(key.name, table=alias, quoted=True).sql("duckdb")
            # GROUP BY ALL refuses an expression mixing aggregates and columns; the key is
            # the same on every row of a group, so any row's value is the group's
            keys.append((key.name, f"ANY_VALUE({col})" if every else col))
    return Fixed(tuple(values), tuple(dict.fromkeys(keys)))


def _per_row(column_sql: str, per_value: Mapping[Value, int], default: int) -> str:
    """``CASE column WHEN value THEN limit … ELSE default END`` for the values below default."""
    whens = "".join(
        f"WHEN {exp.convert(v).sql('duckdb')} THEN {n} "
        for v, n in per_value.items()
        if n < default
    )
    return f"CASE {column_sql} {whens}ELSE {default} END" if whens else str(default)


def _limit(constant: int, per_row: list[str]) -> str:
    parts = [p for p in per_row if p != str(constant)]
    if not parts:
        return str(constant)
    return parts[0] if len(parts) == 1 else f"LEAST({', '.join(parts)})"


def row_limit_sql(
    overall: EntityRows,
    per_column: Mapping[str, Mapping[Value, EntityRows]],
    fixed: Fixed,
    entities: int,
) -> str:
    r"""SQL for the most rows ``entities`` entities can own in a group restricted by ``fixed``.

    A group's rows are among the rows having each of its fixed values, so the smallest of
    the per-value limits (and the table's) holds; GROUP BY keys pick their value per row.
    A value without statistics falls back to the table's limit.

    >>> overall = EntityRows(1000, (300,))
    >>> per = {"stem": {True: EntityRows(50, (5,))}, "r": {"AT": EntityRows(90, (20,))}}
    >>> row_limit_sql(overall, per, Fixed((("stem", True),), (("r", '"v"."r"'),)), 1)
    '5'
    >>> row_limit_sql(overall, per, Fixed((), (("r", '"v"."r"'),)), 1)
    'CASE "v"."r" WHEN \'AT\' THEN 20 ELSE 300 END'
    """
    constant = overall.rows_of(entities)
    for col, value in fixed.values:
        rows = per_column.get(col, {}).get(value)
        if rows is not None:
            constant = min(constant, rows.rows_of(entities))
    per_row = []
    for col, sql in fixed.keys:
        limits = {v: r.rows_of(entities) for v, r in per_column.get(col, {}).items()}
        per_row.append(_per_row(sql, limits, constant))
    return _limit(constant, per_row)


def rows_bound_useful(
    overall: EntityRows,
    per_column: Mapping[str, Mapping[Value, EntityRows]],
    fixed: Fixed,
    threshold: int,
) -> bool:
    """Whether a row-count bound is likely to decide (see :meth:`EntityRows.useful`).

    Useful when the table's counts are, or those of a fixed value, or those of every value
    of a GROUP BY key.

    >>> overall = EntityRows(1000, (300,))
    >>> per = {"stem": {True: EntityRows(500, (5,))}}
    >>> rows_bound_useful(overall, per, Fixed(), 2)
    False
    >>> rows_bound_useful(overall, per, Fixed((("stem", True),)), 2)
    True
    """
    if overall.useful(threshold):
        return True
    for col, value in fixed.values:
        rows = per_column.get(col, {}).get(value)
        if rows is not None and rows.useful(threshold):
            return True
    for col, _ in fixed.keys:
        values = per_column.get(col)
        if values and all(r.useful(threshold) for r in values.values()):
            return True
    return False


def top_limit_sql(per_column: Mapping[str, Mapping[Value, int]], fixed: Fixed) -> str | None:
    r"""SQL for an upper bound on the ``n`` largest contributions to a sum in one group.

    An entity's subtotal in a group is at most its subtotal over all rows having the
    group's fixed values (the measure is never negative), so the per-value top-n sums bound
    the group's; ``""`` holds the whole table's. ``None``: no statistics apply.

    >>> per = {"": {True: 900}, "r": {"AT": 100, "DE": 950}}
    >>> top_limit_sql(per, Fixed((), (("r", '"v"."r"'),)))
    'CASE "v"."r" WHEN \'AT\' THEN 100 ELSE 900 END'
    >>> top_limit_sql({}, Fixed()) is None
    True
    """
    overall = per_column.get("", {}).get(True)
    if overall is None:  # (rows whose key value has no statistics, e.g. NULL, need it)
        return None
    constant = overall
    for col, value in fixed.values:
        top = per_column.get(col, {}).get(value)
        if top is not None:
            constant = min(constant, top)
    per_row = [_per_row(sql, per_column.get(col, {}), constant) for col, sql in fixed.keys]
    return _limit(constant, per_row)
