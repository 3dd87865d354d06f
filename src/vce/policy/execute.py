"""Trusted execution: static decision, exact contributors, locked DuckDB, result checks.

This is what the airlock runs for an export request (and ``vce check --execute``): the query
is analysed statically; if allowed it is rewritten to carry its contributors
(:mod:`vce.policy.rewrite`), run on the full extracts the project may see
(:mod:`vce.policy.engine`), and every row is checked (:mod:`vce.policy.checks`). Only rows that
pass leave, with helper columns dropped and counts rounded. Anything the engine cannot decide
exactly is denied with a reason; nothing is released on a guess.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from vce.policy import anti_join, low_effect
from vce.policy.bounds import RowBound, TopBound
from vce.policy.checks import (
    CheckOutcome,
    byte_limit,
    cells,
    dominance,
    minor_rows,
    order_statistic,
    regression,
    rounding,
    row_limit,
    threshold,
    u18,
)
from vce.policy.contributors import value_columns, with_sets
from vce.policy.engine import (
    EngineError,
    Statistics,
    collect_files,
    locked_session,
)
from vce.policy.rewrite import (
    HELPER_PREFIX,
    ContributorsUnknown,
    Rewritten,
    RowExportNotAllowed,
    rewrite,
)
from vce.policy.stored_statistics import load_statistics
from vce.policy.violations import Violation

if TYPE_CHECKING:
    from vce.policy import Context, Decision

BATCH_ROWS = 65_536


@dataclass
class CheckedResult:
    """Outcome of a checked execution: the releasable table and the report that explains it."""

    decision: Decision
    allowed: bool
    table: pa.Table | None = None
    suppressed_rows: int = 0
    checks: list[CheckOutcome] = field(default_factory=list)
    reasons: list[Any] = field(default_factory=list)
    files_read: tuple[Path, ...] = ()
    rounded_columns: tuple[str, ...] = ()
    # with ``contributors=True``: one row per released row, its id lists (vce.policy.contributors)
    contributor_sets: pa.Table | None = None
    value_columns: tuple[str, ...] = ()
    row_export: bool = False  # rows leave one by one (no cell to difference)
    withheld: list[dict[str, Any]] = field(default_factory=list)  # by vce.policy.differencing
    withheld_rows: int = 0  # rows whose every statistic is withheld

    @property
    def releases_something(self) -> bool:
        """Whether any row leaves with a value (withheld rows are only their group keys)."""
        return self.released_rows > self.withheld_rows

    @property
    def released_rows(self) -> int:
        """Number of rows that would leave."""
        return 0 if self.table is None else self.table.num_rows

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON report (``vce check --execute --json``, the airlock's check report)."""
        rows = self.table.to_pylist() if self.table is not None else []
        return {
            "allowed": self.allowed,
            "violations": [_violation_dict(v) for v in self.reasons],
            "rows": [_jsonable(r) for r in rows],
            "suppressed_rows": self.suppressed_rows,
            "checks": [c.to_dict() for c in self.checks],
            "rounded_columns": list(self.rounded_columns),
            "withheld": self.withheld,
        }


def _violation_dict(v: Any) -> dict[str, Any]:
    if hasattr(v, "to_dict"):
        return v.to_dict()
    return {k: getattr(v, k, None) for k in ("rule", "message", "line", "column")}


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if hasattr(v, "isoformat"):
            v = v.isoformat()
        elif isinstance(v, Decimal):
            v = int(v) if v == v.to_integral_value() else float(v)
        elif isinstance(v, bytes):
            v = v.hex()
        out[k] = v
    return out


def _deny(decision: Any, rule: str, message: str) -> CheckedResult:
    return CheckedResult(decision, False, reasons=[Violation(rule, message)])


class _NeedExactCounts(Exception):
    """A bound was not decisive for some row: run the exact version of the query."""


def _final_sql(rw: Rewritten, fast: bool = False) -> str:
    """Join the rewritten query with its dominance side queries, keeping its order."""
    if fast and rw.fast_sql:
        return rw.fast_sql  # dominance bounds are inline: no side query, no join
    main = rw.sql
    if not rw.dominance and not rw.order_stats and not rw.anti_joins:
        return main
    parts = [
        f"WITH {HELPER_PREFIX}main AS (SELECT *, row_number() OVER () AS {HELPER_PREFIX}ord "
        f"FROM ({main}))",
        "SELECT m.*",
    ]
    joins = []
    for i, d in enumerate(rw.dominance):
        parts[-1] += (
            f", d{i}.__vce_top AS __vce_dtop{i}, d{i}.__vce_top1 AS __vce_dmax{i}, "
            f"d{i}.__vce_total AS __vce_dtot{i}"
        )
        on = " AND ".join(f'm."{g}" IS NOT DISTINCT FROM d{i}."{g}"' for g in rw.group_keys)
        joins.append(f"LEFT JOIN ({d.sql}) AS d{i} ON {on or 'TRUE'}")
    for i, o in enumerate(rw.order_stats):
        parts[-1] += (
            f", coalesce(q{i}.__vce_below, 0) AS __vce_qlo{i}, "
            f"coalesce(q{i}.__vce_above, 0) AS __vce_qhi{i}"
        )
        on = " AND ".join(f'm."{g}" IS NOT DISTINCT FROM q{i}."{g}"' for g in rw.group_keys)
        joins.append(f"LEFT JOIN ({o.sql}) AS q{i} ON {on or 'TRUE'}")
    for a in rw.anti_joins:
        for j, col in enumerate(a.removed_columns()):
            parts[-1] += f", coalesce(a{a.index}.__vce_r{j}, 0) AS {col}"
        parts[-1] += f", coalesce(a{a.index}.__vce_rminor, FALSE) AS {a.minor_column}"
        on = " AND ".join(f'm."{g}" IS NOT DISTINCT FROM a{a.index}."{g}"' for g in rw.group_keys)
        joins.append(f"LEFT JOIN ({a.sql}) AS a{a.index} ON {on or 'TRUE'}")
    return (
        f"{parts[0]} {parts[1]} FROM {HELPER_PREFIX}main AS m {' '.join(joins)} "
        f"ORDER BY m.{HELPER_PREFIX}ord"
    )


def _col(batch: pa.RecordBatch, name: str, dtype: type) -> np.ndarray:
    index = batch.schema.get_field_index(name)
    if index < 0:  # -1 would silently read the last column
        raise KeyError(f"helper column {name} is missing from the rewritten query's result")
    return to_numpy(batch.column(index), dtype)


def _bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    """Arrow's bit-packed (LSB first) booleans ``offset .. offset + n`` as a bool array."""
    packed = np.frombuffer(buffer, dtype=np.uint8)
    return np.unpackbits(packed, count=offset + n, bitorder="little")[offset:].astype(bool)


def to_numpy(arr: pa.Array, dtype: Any) -> np.ndarray:
    """``arr`` as a ``dtype`` array, nulls read as 0 / False.

    Booleans, integers and floats are read straight from their buffers: pyarrow's own
    ``to_numpy`` goes through its pandas conversion and imports pandas, 0.3 s of every
    ``vce check --execute``. Other types (a sum's DECIMAL) still take that path.

    >>> to_numpy(pa.array([3, None, 5]).slice(1), np.int64), to_numpy(pa.array([True, None]), bool)
    (array([0, 5]), array([ True, False]))
    """
    t, n, offset = arr.type, len(arr), arr.offset
    validity, data = arr.buffers()[:2]
    if pa.types.is_boolean(t):
        values = _bits(data, offset, n)
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        kind = "f" if pa.types.is_floating(t) else ("i" if pa.types.is_signed_integer(t) else "u")
        np_type = np.dtype(f"{kind}{t.bit_width // 8}")
        values = np.frombuffer(data, dtype=np_type, count=n, offset=offset * np_type.itemsize)
    else:
        if arr.null_count:
            arr = arr.fill_null(False if dtype is bool else 0)
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=dtype)
    if arr.null_count:
        values = np.where(_bits(validity, offset, n), values, 0)
    return values.astype(dtype)


class _Evaluator:
    """Applies the per-row checks batch by batch and keeps what passes (bounded by max_rows)."""

    def __init__(
        self, rw: Rewritten, ctx: Any, fast: bool = False, stats: Statistics | None = None
    ) -> None:
        th = ctx.policy.thresholds
        self.rw, self.th = rw, th
        people = {"min_entities": th.min_entities, "u18.min_entities": th.u18_min_entities}
        self.outcomes = {
            threshold.NAME: CheckOutcome(
                threshold.NAME, thresholds={"min_entities": th.min_entities}
            ),
            u18.NAME: CheckOutcome(u18.NAME, thresholds={"u18.min_entities": th.u18_min_entities}),
            cells.NAME: CheckOutcome(
                cells.NAME,
                thresholds=people,
            ),
            minor_rows.NAME: CheckOutcome(minor_rows.NAME, thresholds={"minor_rows": "never"}),
            dominance.NAME: CheckOutcome(
                dominance.NAME,
                thresholds={"n": th.dominance_n, "k": th.dominance_k, "p": th.dominance_p},
            ),
            order_statistic.NAME: CheckOutcome(
                order_statistic.NAME,
                thresholds=people,
                detail="distinct entities strictly below and strictly above each quantile",
            ),
            anti_join.NAME: CheckOutcome(
                anti_join.NAME,
                thresholds=people,
                detail="distinct entities each NOT EXISTS / NOT IN removes from a group",
            ),
            regression.NAME: CheckOutcome(
                regression.NAME,
                thresholds={"min_dof": th.min_dof},
                detail="residual degrees of freedom (pairs - 2) of each regression",
            ),
        }
        self.kept: list[pa.RecordBatch] = []
        self.kept_sets: list[pa.RecordBatch] = []
        self.set_columns: tuple[str, ...] = ()
        self.kept_rows = 0
        self.suppressed = 0
        self.smallest: int | None = None
        self.schema: pa.Schema | None = None
        self.fast = fast
        self.lower_bounds = rw.lower_bound_slots if fast else ()
        self.row_bounds = rw.row_bounds if fast else ()
        self.cell_terms = rw.cell_terms if fast else ()
        self.top_bounds = {tb.index: tb for tb in rw.top_bounds} if fast else {}
        self.stats = stats

    def _statistics(self) -> Statistics:
        if self.stats is None:
            raise _NeedExactCounts  # (no statistics to bound with)
        return self.stats

    def _row_bound(self, rb: RowBound, batch: pa.RecordBatch, need: Any) -> np.ndarray:
        """``rb``'s lower bound per row (see :func:`_widening`)."""
        counts = _col(batch, rb.column, np.int64)
        return _widening(
            rb.dims(),
            functools.partial(self._statistics().rows, rb.relation, rb.entity),
            lambda known: rb.apply(counts, batch, known),
            lambda bound: (bound > 0) & (bound < need),
        )

    def _top_bound(self, tb: TopBound, batch: pa.RecordBatch, total: np.ndarray) -> np.ndarray:
        """``tb``'s upper bound per row (see :func:`_widening`)."""
        return _widening(
            tb.dims(),
            functools.partial(self._statistics().tops, tb.relation, tb.entity, tb.measure),
            lambda known: tb.per_row(batch, known),
            lambda top: dominance.failing(top, total, self.th.dominance_k, self.th.dominance_p),
        )

    def _order_statistics(
        self, count: Callable[[str], np.ndarray], need: Any, n: int
    ) -> np.ndarray | None:
        """Rows where a quantile has too few entities strictly below or above it."""
        fail = None
        for i in range(len(self.rw.order_stats)):
            need_row = np.broadcast_to(need, (n,))
            f = order_statistic.failing(count(f"__vce_qlo{i}"), count(f"__vce_qhi{i}"), need_row)
            fail = f if fail is None else fail | f
        return fail

    def _anti_joins(
        self, count: Callable[[str], np.ndarray], flag: Callable[[str], np.ndarray]
    ) -> np.ndarray | None:
        """Rows where an anti-join removes some people, but fewer than the threshold."""
        fail = None
        for a in self.rw.anti_joins:
            f = anti_join.failing(
                [count(c) for c in a.removed_columns()],
                flag(a.minor_column),
                self.th.min_entities,
                self.th.u18_min_entities,
            )
            fail = f if fail is None else fail | f
        return fail

    def add(self, batch: pa.RecordBatch) -> None:
        rw, th = self.rw, self.th
        n = batch.num_rows
        ints: dict[str, np.ndarray] = {}

        def count(name: str) -> np.ndarray:  # each helper column converted once per batch
            if name not in ints:
                ints[name] = _col(batch, name, np.int64)
            return ints[name]

        def flag(name: str) -> np.ndarray:  # left out of the SQL only when FALSE everywhere
            if name in rw.false_flags:
                return np.zeros(n, dtype=bool)
            return _col(batch, name, bool)

        raw = flag(f"{HELPER_PREFIX}raw")
        minor = flag(f"{HELPER_PREFIX}minor")
        minor_raw = flag(f"{HELPER_PREFIX}minor_raw")
        # A check that cannot fail here gets no mask (None): small results are dominated by
        # per-call costs of numpy, which run several times slower right after a DuckDB query.
        no_minor = f"{HELPER_PREFIX}minor" in rw.false_flags
        need = th.needed(False) if no_minor else np.where(minor, th.needed(True), th.needed(False))
        for rb in self.row_bounds:  # row counts, turned into lower bounds on their entities
            ints[rb.column] = self._row_bound(rb, batch, need)
        counts = [count(s) for s in rw.slots]
        strict = [count(s) for s in rw.strict_slots]
        cell_fail = None
        if rw.cells:
            if self.cell_terms:  # each cell's own bound: the smallest, as __vce_cellmin is
                cellmin = cells.smallest([count(c) for c in self.cell_terms])
            else:
                cellmin = count(f"{HELPER_PREFIX}cellmin")
            cell_fail = cells.failing(cellmin, need)
            if self.fast and (cell_fail & (cellmin != 0)).any():
                raise _NeedExactCounts  # a lower bound below a threshold: count exactly
            # (a bound of 0 is exact — no row — and withheld as it is: empty-cell)
        for name in self.lower_bounds:
            bound = count(name)
            if ((bound > 0) & (bound < need)).any():
                raise _NeedExactCounts
        dom = None
        for i in range(len(rw.dominance)):
            tot = _col(batch, f"__vce_dtot{i}", float)
            tb = self.top_bounds.get(i)
            top = self._top_bound(tb, batch, tot) if tb else _col(batch, f"__vce_dtop{i}", float)
            top1 = None if self.fast else _col(batch, f"__vce_dmax{i}", float)
            fails = dominance.failing(top, tot, th.dominance_k, th.dominance_p, top1)
            dom = fails if dom is None else dom | fails
        if self.fast and dom is not None and dom.any():
            raise _NeedExactCounts  # an upper bound above k: compute the exact top-n share
        masks = [
            (
                threshold.NAME,
                threshold.failing(counts, raw, rw.has_people, th.min_entities, strict)
                if counts or strict or rw.has_people
                else None,
            ),
            (u18.NAME, None if no_minor else u18.failing(counts, minor, th.u18_min_entities)),
            (cells.NAME, cell_fail),
            (
                minor_rows.NAME,
                None
                if {f"{HELPER_PREFIX}raw", f"{HELPER_PREFIX}minor_raw"} & set(rw.false_flags)
                else minor_rows.failing(raw, minor_raw),
            ),
            (dominance.NAME, dom),
            (order_statistic.NAME, self._order_statistics(count, need, n)),
            (anti_join.NAME, self._anti_joins(count, flag)),
            (regression.NAME, regression.failing([count(c) for c in rw.dof_columns], th.min_dof)),
        ]
        suppressed: np.ndarray | None = None
        for name, mask in masks:
            out = self.outcomes[name]
            failed = 0 if mask is None else int(np.count_nonzero(mask))
            out.failed += failed
            out.passed += n - failed
            if failed:
                new = mask if suppressed is None else mask & ~suppressed
                out.suppressed += int(np.count_nonzero(new))
                suppressed = mask.copy() if suppressed is None else suppressed | mask
        if suppressed is None:
            keep, kept_n = None, n
        else:
            keep = ~suppressed
            kept_n = int(np.count_nonzero(keep))
        self.suppressed += n - kept_n
        small = threshold.smallest(counts, np.ones(n, dtype=bool) if keep is None else keep)
        if small is not None:
            self.smallest = small if self.smallest is None else min(self.smallest, small)
        if self.kept_rows <= th.max_rows and kept_n:
            visible = [
                i for i, f in enumerate(batch.schema) if not f.name.startswith(HELPER_PREFIX)
            ]
            kept = batch if keep is None else batch.filter(pa.array(keep))
            self.kept.append(kept.select(visible))
            if self.set_columns:
                self.kept_sets.append(kept.select(list(self.set_columns)))
        self.kept_rows += kept_n


def _widening(
    dims: list[str],
    fetch: Callable[..., dict[str, Any]],
    bound_of: Callable[[dict[str, Any]], np.ndarray],
    undecided: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """A bound per row from the statistics at hand, adding dimensions while rows need them.

    Per-value statistics cost a scan each; most results are decided by the whole relation's
    (``dims[0]``, always computed), so the others are computed one at a time, and only while
    some row is still undecided. The result is re-checked in memory: the query is not re-run.
    """
    known = {**fetch(dims[:1]), **fetch(dims[1:], compute=False)}
    if dims[0] not in known:
        raise _NeedExactCounts  # (the whole relation's statistics were evicted or refused)
    bound = bound_of(known)
    for dim in dims[1:]:
        if dim in known or not undecided(bound).any():
            continue
        known.update(fetch([dim]))
        bound = bound_of(known)
    return bound


def _execute(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    rw: Rewritten,
    ctx: Any,
    fast: bool,
    stats: Statistics | None = None,
    set_columns: tuple[str, ...] = (),
) -> _Evaluator:
    """Stream the result through the checks (raises _NeedExactCounts in fast mode)."""
    ev = _Evaluator(rw, ctx, fast, stats)
    ev.set_columns = set_columns
    reader = con.execute(sql).to_arrow_reader(BATCH_ROWS)
    ev.schema = reader.schema
    for batch in reader:
        ev.add(batch)
    return ev


def _statistics(
    ctx: Any,
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, Any],
    data_dirs: Sequence[Path] = (),
) -> Statistics:
    th = ctx.policy.thresholds
    # the busiest entities any threshold can involve; the policy's dominant contributors
    depth, top_n = th.needed(True), th.dominance_n
    # registered with the dataset version (vce.policy.stored_statistics), else computed
    stored = functools.partial(
        load_statistics, tuple(data_dirs), tables, ctx.u18_approved, depth, top_n
    )
    return Statistics(con, tables, depth, top_n, stored if data_dirs else None)


def _with_statistics(
    sql: str,
    rw: Rewritten,
    ctx: Any,
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, Any],
    stats: Statistics | None = None,
) -> Rewritten:
    """The rewrite whose fast pass bounds groups by row counts where that is provable.

    Reading the entity column (to hash it) costs more than many whole queries; a group of
    one relation with more rows than its busiest entities own — among all its rows, or among
    those having the values the group is restricted to — has provably enough entities
    without that read, and a sum's top contributions are bounded by theirs over those rows
    (:mod:`vce.policy.bounds`). Whether to count rows is decided on the whole relation's
    statistics (one GROUP BY each, once per set of files); per-value ones are computed
    only when a released row needs them (:class:`vce.policy.engine.Statistics`).
    """
    if not rw.wanted_rows and not rw.wanted_tops:
        return rw
    stats = stats or _statistics(ctx, con, {t: tables[t] for t in rw.tables if t in tables})
    whole = stats.whole(rw.wanted_rows, rw.wanted_tops)
    if not whole.rows and not whole.tops:
        return rw
    return rewrite(sql, ctx.policy, minors_possible=ctx.u18_approved, stats=whole)


def _bounded_passes(
    sql: str,
    rw: Rewritten,
    ctx: Any,
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, Any],
    stats: Statistics,
) -> Iterator[Rewritten]:
    """The cheap variants to try, in order, before exact counting.

    First row-count bounds where the busiest entities make them possible (no read of the
    entity columns: about the cost of the query itself), then hashed bounds (read and hash
    the entity columns). A group smaller than the busiest entities' rows is not decided by
    its row count, but usually is by hashing — at a fraction of exact counting's cost (on
    10M videos, 46 region × STEM groups: 3× instead of 9× the raw query).
    """
    if not rw.fast_sql:
        return
    with_rows = _with_statistics(sql, rw, ctx, con, tables, stats)
    yield with_rows
    if with_rows.fast_sql != rw.fast_sql:  # (joins, subqueries: no row-count bound, same SQL)
        yield rw


def _low_effect(
    con: duckdb.DuckDBPyConnection, sql: str, ctx: Any, rw: Rewritten, ev: _Evaluator
) -> CheckOutcome:
    """Withhold the kept rows a condition changes by 1 … threshold − 1 people (low_effect)."""
    th = ctx.policy.thresholds
    out = CheckOutcome(
        low_effect.NAME,
        thresholds={"min_entities": th.min_entities, "u18.min_entities": th.u18_min_entities},
    )
    if ev.kept_rows > th.max_rows:  # denied by the row limit anyway
        return out
    le = low_effect.check(con, sql, ctx.policy, ctx.u18_approved, sorted(rw.tables), ev.kept)
    ev.kept, ev.kept_rows, ev.suppressed = (
        le.kept,
        ev.kept_rows - le.suppressed,
        ev.suppressed + le.suppressed,
    )
    out.passed, out.failed, out.suppressed = (
        le.checked - le.suppressed,
        le.suppressed,
        le.suppressed,
    )
    out.detail = "; ".join(dict.fromkeys(le.reasons))[:2000]
    return out


def static_check(sql: str, ctx: Context) -> tuple[Decision, Rewritten | None, list[Violation]]:
    """The part of trusted execution that depends on the SQL and the policy alone.

    The static analysis and the contributor rewrite read no data, so their verdict — and its
    violations — may be shown to the researcher at once (:mod:`vce.airlock.projection`);
    everything :func:`run_checked` decides after them is computed on the full extracts and
    is not. Returns the decision, the rewritten query (``None`` when denied) and the
    violations that deny it.

    >>> from vce.policy.analyze import _default_policy
    >>> from vce.policy.context import Context
    >>> ctx = Context(policy=_default_policy(), tables=None, u18_approved=False)
    >>> [v.rule for v in static_check("SELECT username FROM users", ctx)[2]]
    ['identifier-output', 'row-level-output']
    >>> static_check("SELECT count(*) AS n FROM videos", ctx)[2]
    []
    """
    from vce.policy import analyze

    decision = analyze(sql, ctx)
    if not decision.allowed:
        return decision, None, list(decision.violations)
    try:
        rw = rewrite(sql, ctx.policy, minors_possible=ctx.u18_approved)
    except (ContributorsUnknown, RowExportNotAllowed) as e:
        return decision, None, [Violation(e.rule, str(e))]
    except Exception as e:  # deny, never crash: the rewrite reads no data (SQL + policy only)
        return decision, None, [Violation("internal-error", f"the rewrite failed ({e!r})")]
    return decision, rw, []


def run_checked(
    sql: str,
    ctx: Context,
    data_dirs: Sequence[Path],
    *,
    timeout_s: float = 60,
    memory_limit: str = "2GB",
    threads: int = 2,
    contributors: bool = False,
) -> CheckedResult:
    """Decide, execute and check ``sql`` for a project; return what may leave and why.

    Denied statically → nothing runs. Contributors not computable exactly, timeouts, engine
    errors, row or byte limits → denied with a reason. Otherwise rows below a threshold are
    suppressed and the rest is returned with counts rounded. ``contributors``: run the exact
    pass and keep each released row's id lists, for the differencing guard
    (:mod:`vce.policy.differencing`).
    """
    decision, rw, violations = static_check(sql, ctx)
    if rw is None:
        return CheckedResult(decision, False, reasons=violations)

    try:
        tables = collect_files(data_dirs, ctx.u18_approved, only=rw.tables)
    except EngineError as e:
        return _deny(decision, "data-unavailable", str(e))
    granted = getattr(ctx, "tables", None)
    missing = sorted(
        rw.tables - set(tables) | (rw.tables - granted if granted is not None else set())
    )
    if missing:
        return _deny(
            decision,
            "data-unavailable",
            f"table(s) {', '.join(missing)} are not in the granted datasets of this project",
        )
    # one view per table the query reads: cheaper, and nothing else is reachable
    files = tuple(f for t in tables.values() for f in t.files)

    fired = threading.Event()  # (replaced by the session's own)
    try:
        with locked_session(
            tables, timeout_s=timeout_s, memory_limit=memory_limit, threads=threads
        ) as (con, fired):
            ev = None
            stats = _statistics(ctx, con, tables, data_dirs)
            passes = () if contributors else _bounded_passes(sql, rw, ctx, con, tables, stats)
            for bounded in passes:
                try:
                    fast_sql = _final_sql(bounded, fast=True)
                    ev = _execute(con, fast_sql, bounded, ctx, True, stats)
                    break
                except _NeedExactCounts:
                    continue
            if ev is None and contributors:
                ev = _execute_with_sets(con, rw, ctx)
            elif ev is None:
                ev = _execute(con, _final_sql(rw), rw, ctx, False)
            try:
                low = _low_effect(con, sql, ctx, rw, ev)
            except low_effect.LowEffectUnanalysable as e:
                return _deny(decision, low_effect.RULE, str(e))
    except duckdb.Error as e:  # (the cursor is closed, never handed on)
        if fired.is_set():
            return _deny(
                decision,
                "timeout",
                f"the query ran longer than {timeout_s:g} s and was stopped; "
                "filter or aggregate earlier, or ask for a longer time budget",
            )
        return _deny(decision, "execution-error", f"the engine refused the query: {e}")

    th = ctx.policy.thresholds
    checks = [*ev.outcomes.values(), low]
    checks[0].smallest_group = ev.smallest
    if ev.lower_bounds:
        checks[0].detail = (
            "smallest_group is a lower bound: every group was far enough above the threshold "
            "that exact counting was not needed"
        )
    checks.append(
        CheckOutcome(
            rounding.NAME,
            passed=ev.kept_rows,
            thresholds={"rounding": th.rounding},
            detail=", ".join(rw.rounded_columns),
        )
    )
    rows_out = CheckOutcome(row_limit.NAME, thresholds={"max_rows": th.max_rows})
    checks.append(rows_out)
    reasons: list[Any] = []
    table: pa.Table | None = None
    if row_limit.exceeded(ev.kept_rows, th.max_rows):
        rows_out.failed = 1
        reasons.append(
            Violation(
                "row-limit",
                f"{ev.kept_rows} rows would be released, more than the limit of {th.max_rows}; "
                "aggregate further or split the export",
            )
        )
    else:
        rows_out.passed = 1
        table = pa.Table.from_batches(ev.kept) if ev.kept else _empty_output(ev.schema)
    bytes_out = CheckOutcome(byte_limit.NAME, thresholds={"max_bytes": th.max_bytes})
    checks.append(bytes_out)
    if table is not None:
        nbytes = byte_limit.size(table)
        if byte_limit.exceeded(nbytes, th.max_bytes):
            bytes_out.failed = 1
            reasons.append(
                Violation(
                    "byte-limit",
                    f"the release would be {nbytes} bytes, more than the limit of "
                    f"{th.max_bytes}; select fewer columns or rows",
                )
            )
            table = None
        else:
            bytes_out.passed = 1
    allowed = not reasons
    return CheckedResult(
        decision,
        allowed,
        table=table if allowed else None,
        suppressed_rows=ev.suppressed,
        checks=checks,
        reasons=reasons,
        files_read=files,
        rounded_columns=rw.rounded_columns,
        contributor_sets=_kept_sets(ev) if allowed and contributors else None,
        value_columns=value_columns(sql) if contributors else (),
        row_export=bool(rw.raw_tables),
    )


def _execute_with_sets(con: duckdb.DuckDBPyConnection, rw: Rewritten, ctx: Any) -> _Evaluator:
    """The exact pass, keeping the id lists behind each outermost count (see contributors)."""
    sql, set_columns = with_sets(rw.sql)
    with_ids = dataclasses.replace(rw, sql=sql)
    return _execute(con, _final_sql(with_ids), with_ids, ctx, False, set_columns=set_columns)


def _kept_sets(ev: _Evaluator) -> pa.Table:
    if ev.kept_sets:
        return pa.Table.from_batches(ev.kept_sets)
    return pa.table({c: pa.array([], pa.list_(pa.int64())) for c in ev.set_columns})


def _empty_output(schema: pa.Schema | None) -> pa.Table:
    """Build an empty release with the query's columns (everything was suppressed)."""
    fields = [f for f in (schema or pa.schema([])) if not f.name.startswith(HELPER_PREFIX)]
    return pa.schema(fields).empty_table()
