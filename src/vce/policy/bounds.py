"""Provable bounds that let the fast pass skip exact counting.

The fast pass of trusted execution (:mod:`vce.policy.execute`) replaces exact distinct counts
by *lower* bounds and the dominance share by an *upper* bound; a row whose bound does not
decide its check sends the query on to exact counting. Two kinds of bound:

* **row counts** — a group with more rows than its ``T - 1`` busiest entities own has at
  least ``T`` entities. "Own" is counted among the rows of the query's one relation (a table,
  or a derived table such as ``unnest(hashtag_names)`` over videos) that have the values the
  group is restricted to: a WHERE value, a GROUP BY key (``region_code``,
  ``date_trunc('week', create_time)``), the condition of a conditional aggregate
  (``is_stem_verified``). A prolific author owns many videos, but few of one week's or of the
  STEM ones. The query computes only the row count; :class:`RowBound` turns it into the bound
  per released row, from statistics computed once per set of files, and per value only when
  a row needs them (:class:`vce.policy.engine.Statistics`). The same statistics bound the
  ``n`` largest contributions to a sum (:class:`TopBound`).
* **hashed bits** — ids hashed onto bits, the bits hit counted (:func:`lower_bound_sql`).

Row counts never read the entity column in the query; hashed bits do, but cost a fraction of
exact counting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

ROWS_BOUND_SHARE = 10  # row-count bounds when groups over 1/10 of the rows are decided
MAX_VALUES = 256  # dimensions with more values get no per-value statistics
WHOLE = ""
"""The dimension key of statistics over all rows of a relation (value ``True``)."""

# Functions whose value differs between two runs: a relation using one is never summarised.
_VOLATILE = (exp.Rand, exp.Uuid, exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)
_VOLATILE_NAMES = frozenset({"random", "now", "setseed", "nextval", "currval", "uuid"})


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
    """How many rows the busiest entities own, among the rows of one relation having a value.

    ``busiest[j]`` is the number of rows of the ``j + 1`` busiest entities together; ``total``
    the rows counted. Computed by :class:`vce.policy.engine.Statistics` over exactly the files
    the query reads; only where no counted row lacks an entity.
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


@dataclass(frozen=True)
class Limits:
    """A per-row upper limit: a constant, lowered where a key column has a listed value."""

    constant: float
    keys: tuple[tuple[str, tuple[tuple[Any, float], ...]], ...] = ()  # column, (value, limit)

    def per_row(self, batch: pa.RecordBatch) -> np.ndarray:
        """The limit of every row of ``batch`` (key columns are read by name).

        >>> b = pa.record_batch({"r": ["AT", "DE", None]})
        >>> Limits(90, (("r", (("AT", 20), ("FR", 5))),)).per_row(b).tolist()
        [20.0, 90.0, 90.0]
        """
        out = np.full(batch.num_rows, float(self.constant))
        for column, pairs in self.keys:
            index = batch.schema.get_field_index(column)
            if index < 0:
                raise KeyError(f"key column {column} is missing from the rewritten query's result")
            arr = batch.column(index)
            if pa.types.is_dictionary(arr.type):
                arr = arr.dictionary_decode()
            values = pa.array([v for v, _ in pairs], type=arr.type)
            found = pc.index_in(arr, value_set=values).fill_null(len(pairs))
            limits = np.array([lim for _, lim in pairs] + [np.inf], dtype=float)
            out = np.minimum(out, limits[np.asarray(found)])
        return out


@dataclass(frozen=True)
class RelationStats:
    """The whole-relation statistics a rewrite decides on (hashable: part of its cache key).

    ``rows``: per (relation, entity), the :class:`EntityRows` of all its rows (only where
    every row has an entity). ``tops``: per (relation, entity, measure), the sum of the
    ``n`` largest per-entity subtotals (only for measures never negative). Per-value
    statistics are looked up later, when rows are checked.
    """

    rows: tuple[tuple[tuple[str, str], EntityRows], ...] = ()
    tops: tuple[tuple[tuple[str, str, str], int], ...] = ()

    def rows_of(self, relation: str, entity: str) -> EntityRows | None:
        """The relation's busiest-entity rows, ``None`` when not computed or refused."""
        return dict(self.rows).get((relation, entity))

    def tops_of(self, relation: str, entity: str, measure: str) -> int | None:
        """The relation's top-n subtotals of ``measure``, ``None`` when not computed or refused."""
        return dict(self.tops).get((relation, entity, measure))


@dataclass(frozen=True)
class Fixed:
    """What restricts a group to one value: constants, and GROUP BY keys read per row.

    Dimensions are named by their SQL over the relation (``"v"."region_code"``).
    """

    values: tuple[tuple[str, Any], ...] = ()
    keys: tuple[tuple[str, str], ...] = ()  # (dimension, output column holding its value)

    def dims(self) -> list[str]:
        """Every dimension the group is restricted on: constants first, then keys in order.

        Constants (a WHERE value, a cell's condition) usually narrow the most.
        """
        return list(dict.fromkeys([d for d, _ in self.values] + [d for d, _ in self.keys]))

    def plus(self, values: list[tuple[str, Any]]) -> Fixed:
        """The same restrictions and ``values`` (a conditional aggregate's condition)."""
        return Fixed((*self.values, *values), self.keys)


@dataclass(frozen=True)
class RowBound:
    """A group's row count (helper ``column``) to turn into a lower bound on its entities.

    For each threshold ``T``, a count above the most rows ``T - 1`` entities own in the
    row's group (:func:`row_limits`, from statistics of ``relation`` per value of the
    dimensions ``fixed`` restricts groups to) proves ``T`` entities; a count above 0 proves
    one (no row lacks an entity). The statistics are looked up when rows are checked, so
    only those a result needs are ever computed.
    """

    column: str
    relation: str
    entity: str
    fixed: Fixed
    thresholds: tuple[int, ...]

    def dims(self) -> list[str]:
        """The statistics it can use: the whole relation's, then each fixed dimension's."""
        return [WHOLE, *self.fixed.dims()]

    def apply(
        self,
        counts: np.ndarray,
        batch: pa.RecordBatch,
        per_dim: Mapping[str, Mapping[Any, EntityRows]],
    ) -> np.ndarray:
        """The bound per row: a threshold met, 1, or 0 (no rows).

        >>> b = pa.record_batch({"r": ["AT", "DE"]})
        >>> per = {WHOLE: {True: EntityRows(100, (90,))}, "d": {"AT": EntityRows(30, (20,))}}
        >>> rb = RowBound("n", "t", "k", Fixed((), (("d", "r"),)), (2,))
        >>> rb.apply(np.array([30, 30]), b, per).tolist()
        [2, 1]
        """
        out = np.where(counts > 0, 1, 0)
        for t in sorted(self.thresholds):  # higher thresholds last: their limits are higher
            if t > 1:
                limits = row_limits(per_dim, self.fixed, t - 1)
                out = np.where(counts > limits.per_row(batch), t, out)
        return out


@dataclass(frozen=True)
class TopBound:
    """An upper bound on the top-n share of dominance sum ``index`` (see :func:`top_limits`)."""

    index: int
    relation: str
    entity: str
    measure: str
    fixed: Fixed

    def dims(self) -> list[str]:
        """The statistics it can use: the whole relation's, then each fixed dimension's."""
        return [WHOLE, *self.fixed.dims()]

    def per_row(
        self, batch: pa.RecordBatch, per_dim: Mapping[str, Mapping[Any, int]]
    ) -> np.ndarray:
        """The bound per row (``per_dim`` holds at least the whole relation's statistics)."""
        return top_limits(per_dim, self.fixed).per_row(batch)


def literal_value(node: exp.Expression) -> Any:
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


def _column_sql(col: exp.Column) -> str:
    return exp.column(col.name, table=col.table, quoted=True).sql("duckdb")


def fixed_value(
    cond: exp.Expression, is_dim: Callable[[exp.Column], bool]
) -> tuple[str, Any] | None:
    """``(dimension, value)`` when ``cond`` holds only where a dimension column equals value.

    >>> import sqlglot
    >>> dim = lambda c: c.table == "v"
    >>> [fixed_value(sqlglot.parse_one(s), dim) for s in
    ...  ("v.region_code = 'AT'", "3 = v.n", "v.is_stem", "NOT v.is_stem", "w.x = 1", "v.a > 1")]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('"v"."region_code"', 'AT'), ('"v"."n"', 3), ('"v"."is_stem"', True),
     ('"v"."is_stem"', False), None, None]
    """
    if isinstance(cond, exp.Paren):
        return fixed_value(cond.this, is_dim)
    if isinstance(cond, exp.Column) and is_dim(cond):
        return _column_sql(cond), True
    if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Column) and is_dim(cond.this):
        return _column_sql(cond.this), False
    if isinstance(cond, exp.EQ):
        for col, lit in ((cond.this, cond.expression), (cond.expression, cond.this)):
            value = literal_value(lit)
            if isinstance(col, exp.Column) and is_dim(col) and value is not None:
                return _column_sql(col), value
    return None


def key_dimension(key: exp.Expression, is_dim: Callable[[exp.Column], bool]) -> str | None:
    """The dimension a GROUP BY key restricts a group to: a column, or a truncated time.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT date_trunc('week', t.c), t.r, t.r % 7 FROM t", "duckdb")
    >>> [key_dimension(e, lambda c: True) for e in q.expressions]
    ["DATE_TRUNC('WEEK', t.c)", '"t"."r"', None]
    """
    if isinstance(key, exp.Column):
        return _column_sql(key) if is_dim(key) else None
    if isinstance(key, (exp.DateTrunc, exp.TimestampTrunc)):
        col, unit = key.this, key.args.get("unit")
        if isinstance(col, exp.Column) and is_dim(col) and isinstance(unit, (exp.Literal, exp.Var)):
            return key.sql("duckdb")
    return None


def fixed_dimensions(sel: exp.Select, is_dim: Callable[[exp.Column], bool]) -> Fixed:
    """What restricts every group of ``sel`` to one value of a dimension.

    WHERE conjuncts ``col = literal`` (or a bare boolean column), and GROUP BY keys that
    are output columns (positional keys and GROUP BY ALL resolved), read per row.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT v.r AS r, count(*) FROM videos AS v "
    ...     "WHERE v.lang = 'de' AND v.x > 1 GROUP BY 1")
    >>> fixed_dimensions(q, lambda c: c.name in {"r", "lang"})
    Fixed(values=(('"v"."lang"', 'de'),), keys=(('"v"."r"', 'r'),))
    """
    values = []
    where = sel.args.get("where")
    for cond in conjuncts(where.this if where is not None else None):
        found = fixed_value(cond, is_dim)
        if found is not None:
            values.append(found)
    outputs = {p.unalias().sql("duckdb"): p.alias_or_name for p in sel.expressions}
    group = sel.args.get("group")
    listed = list(group.expressions) if group is not None else []
    if group is not None and group.args.get("all"):  # GROUP BY ALL: plain outputs are keys
        listed += [p.unalias() for p in sel.expressions]
    keys = []
    for key in listed:
        if isinstance(key, exp.Literal) and key.is_int:  # GROUP BY 1
            i = int(key.this) - 1
            key = sel.expressions[i].unalias() if 0 <= i < len(sel.expressions) else key
        dim = key_dimension(key, is_dim)
        out = outputs.get(key.sql("duckdb"))
        if dim is not None and out is not None:
            keys.append((dim, out))
    return Fixed(tuple(values), tuple(dict.fromkeys(keys)))


def volatile(node: exp.Expression) -> bool:
    """Whether ``node`` may give other rows on another run.

    A function whose value changes between runs, or rows picked by LIMIT, OFFSET or SAMPLE
    (which ones is not fixed).

    >>> import sqlglot
    >>> volatile(sqlglot.parse_one("SELECT a FROM t WHERE random() < 0.5", "duckdb"))
    True
    >>> volatile(sqlglot.parse_one("SELECT a FROM (SELECT a FROM t LIMIT 9) AS s", "duckdb"))
    True
    >>> volatile(sqlglot.parse_one("SELECT unnest(tags) FROM t", "duckdb"))
    False
    """
    for sub in node.walk():
        if isinstance(sub, (*_VOLATILE, exp.Limit, exp.Offset, exp.Fetch, exp.TableSample)):
            return True
        if isinstance(sub, exp.Anonymous) and str(sub.name).lower() in _VOLATILE_NAMES:
            return True
    return False


def _limits(per_dim: Mapping[str, Mapping[Any, float]], fixed: Fixed) -> Limits:
    """The smallest limit a group restricted by ``fixed`` can take, per row.

    A group's rows are among the rows having each of its fixed values, so the smallest of
    the per-value limits and the whole relation's holds; GROUP BY keys pick their value per
    row, and a value without statistics keeps the constant.
    """
    constant = per_dim[WHOLE][True]
    for dim, value in fixed.values:
        constant = min(constant, per_dim.get(dim, {}).get(value, constant))
    keys = []
    for dim, column in fixed.keys:
        pairs = tuple((v, lim) for v, lim in per_dim.get(dim, {}).items() if lim < constant)
        if pairs:
            keys.append((column, pairs))
    return Limits(constant, tuple(keys))


def row_limits(
    per_dim: Mapping[str, Mapping[Any, EntityRows]], fixed: Fixed, entities: int
) -> Limits:
    """The most rows ``entities`` entities can own in a group restricted by ``fixed``.

    >>> per = {WHOLE: {True: EntityRows(1000, (300,))}, '"v"."s"': {True: EntityRows(50, (5,))},
    ...        '"v"."r"': {"AT": EntityRows(90, (20,))}}
    >>> row_limits(per, Fixed((('"v"."s"', True),), (('"v"."r"', "r"),)), 1)
    Limits(constant=5, keys=())
    >>> row_limits(per, Fixed((), (('"v"."r"', "r"),)), 1)
    Limits(constant=300, keys=(('r', (('AT', 20),)),))
    """
    return _limits(
        {d: {v: r.rows_of(entities) for v, r in vs.items()} for d, vs in per_dim.items()}, fixed
    )


def top_limits(per_dim: Mapping[str, Mapping[Any, int]], fixed: Fixed) -> Limits:
    """An upper bound on the ``n`` largest contributions to a sum in a group.

    An entity's subtotal in a group is at most its subtotal over all rows having the
    group's fixed values (the measure is never negative), so the per-value top-n sums bound
    the group's.

    >>> per = {WHOLE: {True: 900}, "r": {"AT": 100, "DE": 950}}
    >>> top_limits(per, Fixed((), (("r", "region"),)))
    Limits(constant=900, keys=(('region', (('AT', 100),)),))
    """
    return _limits(per_dim, fixed)
