"""Exact contributor sets of released rows, as roaring bitmaps over a dense entity index.

The checks only need *how many* people stand behind a row; the differencing guard
(:mod:`vce.policy.differencing`) needs *who*: two cells that differ by one person give that
person's value by subtraction. So, when the guard is on, the exact rewrite's outermost
distinct counts are also kept as the id lists they count (:func:`with_sets`, a pure pass over
the rewritten SQL: ``COUNT(DISTINCT id)`` → ``LIST(DISTINCT id)``), and each released row's ids
become one bitmap (:func:`row_bitmaps`) over the dataset version's :class:`EntityIndex` — a
stable, dense numbering (rank among the sorted distinct ids of every entity column), so a
bitmap costs a few bytes per person and bitmaps of one dataset version compare exactly.

``pyroaring`` ships with the ``server`` extra (the trusted side); the researcher image does
not need it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from pyroaring import BitMap

    from vce.policy.model import Policy

COUNT_PREFIX = "__vce_n_"
COUNT_CODES = 64
"""A cell's element for a person is ``position × COUNT_CODES + (their rows mod COUNT_CODES)``:
two cells with the same people but one row more or less of one of them differ in that
person's element (``vce.policy.differencing`` counts people, not elements)."""
SET_PREFIX = "__vce_s_"


class ContributorsUnavailable(RuntimeError):
    """The contributor sets cannot be built (missing library, id outside the index)."""

    rule = "differencing"


def roaring() -> Any:
    """The ``pyroaring`` module, or an error that names the fix."""
    try:
        import pyroaring
    except ImportError as e:  # pragma: no cover - the server extra installs it
        raise ContributorsUnavailable(
            "the differencing guard needs pyroaring: install the server extra "
            "(uv sync --extra server, or pip install 'vce[server]')"
        ) from e
    return pyroaring


def set_column(count_column: str) -> str:
    """The id-list column kept next to a count column.

    >>> set_column("__vce_n__videos__author_id__0")
    '__vce_s__videos__author_id__0'
    """
    return SET_PREFIX + count_column[len(COUNT_PREFIX) :]


def _top_selects(tree: exp.Expression) -> list[exp.Select]:
    if isinstance(tree, exp.Select):
        return [tree]
    if isinstance(tree, exp.SetOperation):
        return [*_top_selects(tree.this), *_top_selects(tree.expression)]
    if isinstance(tree, exp.Subquery):
        return _top_selects(tree.this)
    return []


def _as_set(count: exp.Expression) -> exp.Expression:
    """The ids a top-level count expression counts, with their rows where it has them.

    ``COUNT(DISTINCT id)`` over base rows becomes ``HISTOGRAM(id)`` (each id and its row
    count: a cell that lost one row of a person still in it differs in that count); counts
    of sets an inner aggregate built are their lists (ids only).

    Counts of a lifted scalar subquery (``MAX`` of its count) carry no ids: they are left out
    of the set (documented in policy-rules.md, ``differencing``).
    """
    e = count.unalias()
    if isinstance(e, exp.Coalesce):
        e = e.this
    if isinstance(e, exp.Count) and isinstance(e.this, exp.Distinct):
        ids = e.this.expressions[0].copy()
        return exp.Anonymous(this="HISTOGRAM", expressions=[ids])  # id → its rows
    if isinstance(e, exp.Length) or (
        isinstance(e, exp.Anonymous) and str(e.this).upper() in {"LEN", "LENGTH"}
    ):
        inner = e.this if isinstance(e, exp.Length) else e.expressions[0]
        return inner.copy()
    return exp.Null()


def with_sets(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` (an exact rewrite) that also outputs the id list behind each outermost count.

    >>> s, cols = with_sets('SELECT "v"."region_code" AS "region_code", '
    ...     'COALESCE(COUNT(DISTINCT "v"."author_id"), 0) AS "__vce_n__videos__author_id__0" '
    ...     'FROM "videos" AS "v" GROUP BY "v"."region_code"')
    >>> cols
    ('__vce_s__videos__author_id__0',)
    >>> 'HISTOGRAM("v"."author_id") AS "__vce_s__videos__author_id__0"' in s
    True
    """
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    names: list[str] = []
    for sel in _top_selects(tree):
        extra = []
        for e in sel.expressions:
            name = e.alias_or_name
            if isinstance(e, exp.Alias) and name.startswith(COUNT_PREFIX):
                extra.append(exp.alias_(_as_set(e), set_column(name), quoted=True))
        sel.set("expressions", [*sel.expressions, *extra])
        if not names:
            names = [a.alias for a in extra]
    return tree.sql("duckdb"), tuple(names)


def value_columns(sql: str) -> tuple[str, ...]:
    """Output columns of the outermost SELECT that are statistics (hold an aggregate).

    The others are group keys: they label a cell, they are not a value about its people.

    >>> value_columns("SELECT region_code, count(*) AS n, sum(x) + 1 AS s FROM t GROUP BY 1")
    ('n', 's')
    """
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    selects = _top_selects(tree)
    if not selects:
        return ()
    return tuple(
        e.alias_or_name
        for e in selects[0].expressions
        if any(isinstance(a, exp.AggFunc) for a in e.find_all(exp.AggFunc))
    )


@dataclass(frozen=True)
class EntityIndex:
    """Dense numbering of one dataset version's entities: id → rank among sorted ids."""

    version: str
    ids: np.ndarray  # sorted distinct int64 ids of every entity column of every table
    minor_ids: np.ndarray  # sorted distinct ids of users in the minor partition

    def positions(self, values: np.ndarray) -> np.ndarray:
        """Dense positions of ``values``; an id outside the index is an error, never a guess.

        >>> ix = EntityIndex("v", np.array([5, 9, 40]), np.array([9]))
        >>> ix.positions(np.array([40, 5])).tolist()
        [2, 0]
        """
        pos = np.searchsorted(self.ids, values)
        inside = pos < len(self.ids)
        if not inside.all() or not (self.ids[pos[inside]] == values[inside]).all():
            raise ContributorsUnavailable(
                "a contributor id is not in the dataset version's entity index"
            )
        return pos.astype(np.uint32)

    @functools.cached_property
    def minors(self) -> BitMap:
        """Every element of a minor (all row-count codes), as a bitmap; computed once."""
        pos = self.positions(self.minor_ids).astype(np.uint64) * COUNT_CODES
        every = (pos[:, None] + np.arange(COUNT_CODES, dtype=np.uint64)).ravel()
        out = roaring().BitMap(every.astype(np.uint32))
        out.run_optimize()
        return out


def _sql_list(files: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def dataset_version(data_dirs: Sequence[Path]) -> str:
    """An identity of the dataset version(s) behind ``data_dirs``.

    The hash of each directory's sealed manifest (every file's checksum); a directory without
    one by its files' names, sizes and modification times.
    """
    from vce.data.manifest import MANIFEST, sha256_file

    parts = []
    for root in data_dirs:
        root = Path(root)
        if (root / MANIFEST).is_file():
            parts.append(sha256_file(root / MANIFEST))
        else:
            files = sorted(root.rglob("*.parquet"))
            parts.append(
                json.dumps([(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files])
            )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def entity_index(data_dirs: Sequence[Path], policy: Policy) -> EntityIndex:
    """The dataset version's entity index, computed once per version (kept with its statistics).

    Read from every audience partition (the guard runs on the trusted side): the numbering of
    a version does not depend on the project asking.
    """
    from vce.policy.engine import _cached

    version = dataset_version(data_dirs)
    key = ("entity-index", version, tuple(str(d) for d in data_dirs), id(policy))
    return _cached(key, lambda: _build_index(version, data_dirs, policy))  # type: ignore[return-value]


def _build_index(version: str, data_dirs: Sequence[Path], policy: Policy) -> EntityIndex:
    import duckdb

    from vce.data.schema import TABLES

    parts, minors = [], []
    for name, tpol in policy.tables.items():
        if not tpol.entity or name not in TABLES:
            continue
        files = sorted(f for d in data_dirs for f in (Path(d) / name).rglob("*.parquet"))
        if not files:
            continue
        for col in tpol.entity:
            parts.append(f'SELECT "{col}" AS id FROM read_parquet({_sql_list(files)})')
        if name == "users":
            minor_files = [f for f in files if "audience=minor" in f.parts]
            if minor_files:
                minors.append(f"SELECT user_id AS id FROM read_parquet({_sql_list(minor_files)})")
    con = duckdb.connect()
    try:
        ids = _distinct(con, parts)
        minor_ids = _distinct(con, minors)
    finally:
        con.close()
    return EntityIndex(version, ids, minor_ids)


def _distinct(con: Any, parts: list[str]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    sql = f"SELECT DISTINCT id FROM ({' UNION ALL '.join(parts)}) WHERE id IS NOT NULL ORDER BY id"
    rows = con.execute(sql).fetchnumpy()["id"]
    return np.asarray(rows, dtype=np.int64)


def row_bitmaps(sets: pa.Table, index: EntityIndex) -> list[BitMap]:
    """One bitmap per row: the union of its people's elements (every entity column is a person).

    A histogram column gives each person's element with their row count's code; a list
    column (sets an inner aggregate built) code 0.

    >>> ix = EntityIndex("v", np.array([3, 7, 11, 20]), np.array([], dtype=np.int64))
    >>> t = pa.table({"a": [[3, 7], None], "b": [[11], [20, 20]]})
    >>> [[e // COUNT_CODES for e in b] for b in row_bitmaps(t, ix)]
    [[0, 1, 2], [3]]
    >>> h = pa.array([[(3, 2), (7, 1)]], pa.map_(pa.int64(), pa.uint64()))
    >>> [list(b) for b in row_bitmaps(pa.table({"h": h}), ix)]
    [[2, 65]]
    """
    if len(index.ids) * COUNT_CODES >= 2**32:
        raise ContributorsUnavailable("the dataset version has too many entities for the guard")
    bitmap = roaring().BitMap
    rows = sets.num_rows
    out = [bitmap() for _ in range(rows)]
    seen = blind = 0
    for column in sets.columns:
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not (pa.types.is_list(arr.type) or pa.types.is_map(arr.type)):
            # a count with no ids behind it (a lifted scalar subquery's): left out of the set
            blind += 1
            continue
        seen += 1
        offsets = np.asarray(arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        if pa.types.is_map(arr.type):
            ids, counts = arr.keys, arr.items.to_numpy(zero_copy_only=False)
        else:
            ids, counts = arr.values, None
        if ids.null_count:
            raise ContributorsUnavailable("a contributor id list holds NULL")
        pos = index.positions(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64))
        elems = pos.astype(np.uint64) * COUNT_CODES
        if counts is not None:
            elems += np.asarray(counts, dtype=np.uint64) % COUNT_CODES
        elems = elems.astype(np.uint32)
        for i in range(rows):
            lo, hi = offsets[i], offsets[i + 1]
            if hi > lo:
                out[i] |= bitmap(elems[lo:hi])
    if blind and not seen:  # every count is blind: comparing empty sets would pass anything
        raise ContributorsUnavailable(
            "the differencing guard cannot tell whom a scalar subquery counts, and this result "
            "has no other count; write the subquery as a CTE joined to the outer query"
        )
    return out
