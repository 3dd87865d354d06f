"""Safe marginals: a column's distribution among real minors, minus what only a few of them hold.

A synthetic minor's value must never be something that fewer than ``K`` real minors hold
(``K`` is the policy's U18 threshold, counted in distinct minors over the table's entity
columns, never in rows), because such a value points at those few people. So each column's
marginal is split, over the *whole* minors' partition, into

* **safe values**, held by at least ``K`` distinct minors: drawn as they are, with their row
  frequencies (booleans, regions, age bands, small counts, popular hashtags …);
* **bins** over the remaining rare values of an ordered column (numbers, timestamps, dates):
  consecutive runs of rare values that together hold at least ``K`` distinct minors. A draw
  from a bin is uniform inside it and re-drawn while it hits a rare real value; the outermost
  bins are cut at their median row, so the smallest and largest minors' values do not even
  bound the synthetic range;
* rare values of an unordered column (strings, booleans) are dropped: their rows draw from
  the safe values instead. A column with no safe value and no bin is all null.

Nulls keep their share. List columns (hashtags, effects) draw a length and then elements from
the elements' safe marginal, and a whole list equal to a rare real list is re-drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vce.data.layout import partition_dir
from vce.policy.model import ColumnClass, Policy

REDRAWS = 32


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _temporal(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) or pa.types.is_date(t)


def _numbers(values: pa.Array) -> np.ndarray:
    """An ordered column's values as int64 (integers, times) or float64 numbers."""
    t = values.type
    if pa.types.is_floating(t):
        return np.asarray(values.to_numpy(zero_copy_only=False), np.float64)
    if pa.types.is_date(t):
        values = values.cast(pa.int32())
    elif pa.types.is_timestamp(t):
        values = values.cast(pa.int64())
    return np.asarray(values.to_numpy(zero_copy_only=False), np.int64)


def _from_numbers(x: np.ndarray, mask: np.ndarray, t: pa.DataType) -> pa.Array:
    if pa.types.is_date(t):
        return pa.array(x.astype(np.int32), mask=mask).cast(t)
    if pa.types.is_floating(t):
        return pa.array(x.astype(np.float64), mask=mask).cast(t)
    return pa.array(x.astype(np.int64), mask=mask).cast(t)


def _member(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Whether each ``x`` is one of ``sorted_values``."""
    if len(sorted_values) == 0:
        return np.zeros(len(x), bool)
    i = np.minimum(np.searchsorted(sorted_values, x), len(sorted_values) - 1)
    return sorted_values[i] == x


def _bins(
    x: np.ndarray, rows: np.ndarray, holder_at: np.ndarray, holder: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split sorted rare values into runs each held by ≥ ``k`` distinct minors: (lo, hi, rows).

    ``holder_at[j]`` (ascending) is the index into ``x`` of the value the minor ``holder[j]``
    holds, one entry per (row, minor). Runs grow from the smallest value and close, at a value
    boundary, as soon as they count ``k`` distinct minors; a short tail joins the run before
    it, and fewer than ``k`` minors in all give no run.

    >>> holders = np.array([1, 1, 2, 3, 3, 4])
    >>> lo, hi, w = _bins(np.arange(6), np.ones(6, int), np.arange(6), holders, 2)
    >>> lo.tolist(), hi.tolist(), w.tolist()
    ([1, 3], [2, 4], [3, 3])
    """
    _, dense = np.unique(holder, return_inverse=True)
    last = [-1] * (int(dense.max()) + 1 if len(dense) else 0)
    at = holder_at.tolist()
    edges: list[tuple[int, int]] = []
    start = count = 0
    for j, (vi, e) in enumerate(zip(at, dense.tolist(), strict=True)):
        if last[e] != len(edges):
            last[e] = len(edges)
            count += 1
        if count >= k and (j + 1 == len(at) or at[j + 1] != vi):
            edges.append((start, vi))
            start, count = vi + 1, 0
    if edges and start < len(x):
        edges[-1] = (edges[-1][0], len(x) - 1)
    if not edges:
        return x[:0], x[:0], rows[:0]
    a = np.array([e[0] for e in edges])
    b = np.array([e[1] for e in edges])
    lo, hi = x[a].copy(), x[b].copy()
    crows = np.concatenate([[0], np.cumsum(rows)])

    def middle(s: int, e: int, q: float) -> object:  # the value at row quantile q of a run
        target = crows[s] + q * (crows[e + 1] - crows[s])
        return x[min(int(np.searchsorted(crows, target, side="right")) - 1, e)]

    if len(edges) == 1:
        lo[0], hi[0] = middle(a[0], b[0], 0.25), middle(a[0], b[0], 0.75)
    else:
        lo[0] = middle(a[0], b[0], 0.5)
        hi[-1] = middle(a[-1], b[-1], 0.5)
    return lo, hi, crows[b + 1] - crows[a]


@dataclass(frozen=True)
class Marginal:
    """One column's safe marginal (see the module docstring); :meth:`draw` samples it."""

    type: pa.DataType
    values: pa.Array  # safe values
    value_rows: np.ndarray
    ordered: bool  # binned: a measure or a time; otherwise a label (rare ones are dropped)
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0))  # bins over rare values
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bin_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rare: np.ndarray = field(default_factory=lambda: np.zeros(0))  # sorted, never drawn
    nulls: int = 0

    def draw(self, n: int, rng: np.random.Generator) -> pa.Array:
        """``n`` values: safe values, in-bin draws that are no rare real value, or nulls."""
        weights = np.concatenate([self.value_rows, self.bin_rows, [self.nulls]]).astype(float)
        if weights.sum() == 0:
            return pa.nulls(n, self.type)
        atom = np.searchsorted(np.cumsum(weights), rng.random(n) * weights.sum(), side="right")
        atom = np.minimum(atom, len(weights) - 1)
        n_values, n_bins = len(self.value_rows), len(self.bin_rows)
        is_null = atom == n_values + n_bins
        if not self.ordered:
            idx = pa.array(np.where(is_null, 0, atom), mask=is_null)
            return pc.take(self.values, idx) if len(self.values) else pa.nulls(n, self.type)
        safe = _numbers(self.values)
        out = np.zeros(n, np.float64 if pa.types.is_floating(self.type) else np.int64)
        picked = atom < n_values
        out[picked] = safe[atom[picked]]
        binned = np.flatnonzero((atom >= n_values) & ~is_null)
        b = atom[binned] - n_values
        todo = np.arange(len(binned))
        for _ in range(REDRAWS):
            if not len(todo):
                break
            out[binned[todo]] = self._uniform(b[todo], rng)
            todo = todo[_member(self.rare, out[binned[todo]])]
        for bin_no in np.unique(b[todo]):  # bins crowded with rare values: their free numbers
            rows = binned[todo[b[todo] == bin_no]]
            free = self._free(int(bin_no))
            out[rows] = free[rng.integers(0, len(free), len(rows))]
        return _from_numbers(out, is_null, self.type)

    def _uniform(self, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self.lo[b], self.hi[b]
        if pa.types.is_floating(self.type):
            return rng.uniform(lo, hi)
        return rng.integers(lo.astype(np.int64), hi.astype(np.int64) + 1)

    def _free(self, b: int) -> np.ndarray:
        """Numbers in bin ``b`` that are no rare real value, else the first such above it."""
        lo, hi = self.lo[b], self.hi[b]
        if pa.types.is_floating(self.type):
            x = float(lo)
            while _member(self.rare, np.array([x]))[0]:
                x = float(np.nextafter(x, np.inf))
            return np.array([x])
        inside = np.arange(int(lo), int(hi) + 1)
        free = inside[~_member(self.rare, inside)]
        if len(free):
            return free
        # every number of the bin is rare: step past the run of consecutive rare numbers
        rare = self.rare.astype(np.int64)
        i = int(np.searchsorted(rare, int(hi)))
        run = np.flatnonzero(np.diff(rare[i:]) != 1)
        return np.array([rare[i + (run[0] if len(run) else len(rare) - 1 - i)] + 1])


@dataclass(frozen=True)
class ListMarginal:
    """A list column: a length marginal, an element marginal, and the rare whole lists."""

    type: pa.DataType
    length: Marginal
    element: Marginal
    rare_hashes: np.ndarray  # DuckDB hash() of every whole list held by < K minors

    def draw(self, n: int, rng: np.random.Generator) -> pa.Array:
        """``n`` lists, none equal to a rare real list (those still equal after re-draws: null)."""
        out = self._lists(n, rng)
        todo = np.flatnonzero(self._rare(out))
        for _ in range(REDRAWS):
            if not len(todo):
                break
            fresh = self._lists(len(todo), rng)
            merged = out.to_pylist()
            for i, v in zip(todo, fresh.to_pylist(), strict=True):
                merged[i] = v
            out = pa.array(merged, self.type)
            todo = todo[self._rare(pc.take(out, pa.array(todo)))]
        if len(todo):
            keep = np.ones(n, bool)
            keep[todo] = False
            out = pc.if_else(pa.array(keep), out, pa.nulls(n, self.type))
        return out

    def _lists(self, n: int, rng: np.random.Generator) -> pa.Array:
        lengths = self.length.draw(n, rng)
        if self.element.value_rows.sum() + self.element.bin_rows.sum() == 0:
            return pa.nulls(n, self.type)
        valid = pc.is_valid(lengths).to_numpy(zero_copy_only=False)
        size = np.where(valid, pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False), 0)
        size = np.maximum(size.astype(np.int64), 0)
        elements = self.element.draw(int(size.sum()), rng)
        offsets = pa.array(np.concatenate([[0], np.cumsum(size)]).astype(np.int32))
        lists = pa.ListArray.from_arrays(offsets, elements, mask=pa.array(~valid))
        return lists.cast(self.type)

    def _rare(self, lists: pa.Array) -> np.ndarray:
        if not len(self.rare_hashes) or not len(lists):
            return np.zeros(len(lists), bool)
        con = duckdb.connect()
        con.register("lists", pa.table({"v": lists}))
        hashes = con.execute("SELECT hash(v) AS h FROM lists").fetchnumpy()["h"]
        return np.isin(np.asarray(hashes, np.uint64), self.rare_hashes)


Column = Marginal | ListMarginal


def _count(con: duckdb.DuckDBPyConnection, form: str) -> int:
    """Tabulate ``form`` over the minors (``vals``, ``counts``); return its null rows."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE vals AS SELECT rn, {form} AS v FROM m")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE counts AS "
        "SELECT r.v, r.rows, coalesce(h.n, 0) AS n "
        "FROM (SELECT v, count(*) AS rows FROM vals WHERE v IS NOT NULL GROUP BY v) r "
        "LEFT JOIN (SELECT v, count(DISTINCT e) AS n FROM vals JOIN ents USING (rn) "
        "           WHERE v IS NOT NULL GROUP BY v) h ON r.v = h.v"
    )
    return int(con.execute("SELECT count(*) FROM vals WHERE v IS NULL").fetchone()[0])


def _scalar(
    con: duckdb.DuckDBPyConnection, form: str, t: pa.DataType, k: int, measure: bool
) -> Marginal:
    """A column's safe marginal; measures (numbers) and times are binned, labels are not."""
    ordered = _temporal(t) or (measure and _numeric(t))
    nulls = _count(con, form)
    safe = con.execute(f"SELECT v, rows FROM counts WHERE n >= {k} ORDER BY v").to_arrow_table()
    values = safe.column("v").combine_chunks().cast(t)
    value_rows = np.asarray(safe.column("rows").to_numpy(), np.int64)
    if not ordered:
        return Marginal(t, values, value_rows, ordered, nulls=nulls)
    rare_t = con.execute(f"SELECT v, rows FROM counts WHERE n < {k} ORDER BY v").to_arrow_table()
    rare = _numbers(rare_t.column("v").combine_chunks().cast(t))
    pairs = con.execute(
        "SELECT v, e FROM vals JOIN ents USING (rn) "
        f"WHERE v IN (SELECT v FROM counts WHERE n < {k}) ORDER BY v, e"
    ).to_arrow_table()
    holder_at = np.searchsorted(rare, _numbers(pairs.column("v").combine_chunks().cast(t)))
    holder = pairs.column("e").combine_chunks().to_numpy(zero_copy_only=False)
    rare_rows = np.asarray(rare_t.column("rows").to_numpy(), np.int64)
    lo, hi, bin_rows = _bins(rare, rare_rows, holder_at, holder, k)
    return Marginal(t, values, value_rows, ordered, lo, hi, bin_rows, rare, nulls)


def safe_marginals(root: Path, table: str, policy: Policy) -> dict[str, Column]:
    """Every dimension and measure column's safe marginal, over ``table``'s whole minor partition.

    Distinct minors are counted over the table's entity columns; an entity column that refers
    to another people table counts only the ids found in that table's minor partition (a
    follow between a minor and an adult is one minor, not two).
    """
    k = policy.thresholds.needed(True)
    tp = policy.tables[table]
    files = sorted(partition_dir(root, table, "minor").glob("*.parquet"))
    if not files:
        return {}
    schema = pq.read_schema(files[0])
    cols = [c for c in schema.names if tp.columns[c].cls in (ColumnClass.DIMENSION,
                                                              ColumnClass.MEASURE)]  # fmt: skip
    con = duckdb.connect()
    paths = ", ".join(_quote_path(f) for f in files)
    needed = ", ".join(f'"{c}"' for c in dict.fromkeys([*tp.entity, *cols]))
    con.execute(
        f"CREATE TEMP TABLE m AS SELECT row_number() OVER () AS rn, {needed} "
        f"FROM read_parquet([{paths}])"
    )
    parts = []
    for col in tp.entity:
        ref_table, _, ref_col = (tp.columns[col].refers or "").partition(".")
        cond = "true"
        if ref_table and ref_table != table:
            ref_files = sorted(partition_dir(root, ref_table, "minor").glob("*.parquet"))
            ref_paths = ", ".join(_quote_path(f) for f in ref_files) or "NULL"
            cond = f'"{col}" IN (SELECT "{ref_col}" FROM read_parquet([{ref_paths}]))'
        parts.append(f'SELECT rn, "{col}" AS e FROM m WHERE {cond}')
    con.execute(f"CREATE TEMP TABLE ents AS {' UNION ALL '.join(parts)}")
    out: dict[str, Column] = {}
    for c in cols:
        t = schema.field(c).type
        measure = tp.columns[c].cls is ColumnClass.MEASURE
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            element = _scalar(con, f'unnest("{c}")', t.value_type, k, measure)
            length = _scalar(con, f'len("{c}")', pa.int64(), k, measure=True)
            _count(con, f'"{c}"')
            hashes = con.execute(f"SELECT hash(v) AS h FROM counts WHERE n < {k}").fetchnumpy()
            out[c] = ListMarginal(t, length, element, np.asarray(hashes["h"], np.uint64))
        else:
            out[c] = _scalar(con, f'"{c}"', t, k, measure)
    return out


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
