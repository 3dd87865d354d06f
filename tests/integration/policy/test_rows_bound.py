"""Row-count bounds on distinct entities: never above the truth, never change a release.

The fast pass may bound a single-table group's distinct entities by its row count and the
rows of the busiest entities — of the whole table, or of the rows having the values the
group is restricted to (:mod:`vce.policy.bounds`). These tests force those bounds on the
small generated dataset (where they would not be chosen by themselves) and check them from
the attacker's side: every bound is at most the exact count computed by plain DuckDB, and
the released rows are exactly those of the exact path.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from policy_oracle import plain_connection

import vce.policy.bounds as bounds
import vce.policy.execute as execute
import vce.policy.rewrite as rewrite_mod
from vce.policy import Context
from vce.policy.engine import collect_files, locked_cursor
from vce.policy.model import load_policy

POLICY = load_policy()

QUERIES = [
    "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code",
    "SELECT region_code, date_trunc('month', create_time) AS m, count(*) AS n "
    "FROM videos GROUP BY ALL",
    "SELECT region_code, avg(CASE WHEN is_stem_verified THEN 1.0 ELSE 0.0 END) AS s, "
    "count(*) AS n FROM videos GROUP BY region_code",
    "SELECT region_code, count_if(video_duration < 15) AS short FROM videos GROUP BY 1",
    "SELECT date_trunc('month', create_time) AS m, count(*) AS n FROM follows GROUP BY 1",
    "SELECT age_band, region_code, count(*) AS n FROM users GROUP BY ALL",
    "SELECT date_trunc('week', create_time) AS w, count(*) AS n FROM comments "
    "WHERE like_count > 3 GROUP BY 1",
    # per-value bounds: a WHERE value, a condition's value, GROUP BY ALL keys
    "SELECT date_trunc('month', create_time) AS m, count(*) AS n FROM videos "
    "WHERE region_code = 'DE' AND video_duration > 10 GROUP BY 1",
    "SELECT region_code, count(*) FILTER (WHERE is_stem_verified AND video_duration > 30) AS s, "
    "count(*) AS n FROM videos GROUP BY ALL",
    "SELECT age_band, count_if(region_code = 'FR') AS fr, count(*) AS n FROM users "
    "WHERE NOT is_verified GROUP BY 1",
    "SELECT region_code, date_trunc('month', create_time) AS m, sum(view_count) AS v "
    "FROM videos GROUP BY 1, 2",
    # joined rows; a LEFT JOIN's missing comments leave only the videos' column bounded
    "SELECT v.region_code, count(*) AS comments FROM comments AS c "
    "JOIN videos AS v ON c.video_id = v.id GROUP BY 1",
    "SELECT v.region_code, count(*) AS n FROM videos AS v "
    "LEFT JOIN comments AS c ON c.video_id = v.id GROUP BY 1",
    # a derived table: unnested rows, grouped by a truncated time of theirs
    "SELECT tag, date_trunc('week', create_time) AS week, region_code, count(*) AS videos "
    "FROM (SELECT unnest(hashtag_names) AS tag, create_time, region_code FROM videos) AS t "
    "GROUP BY ALL ORDER BY videos DESC, tag, week, region_code LIMIT 100",
]


@pytest.fixture
def forced_rows_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the row-count bound wherever it is valid, however small the dataset."""
    monkeypatch.setattr(bounds, "ROWS_BOUND_SHARE", 1)
    monkeypatch.setattr(rewrite_mod, "_CACHE", {})


def _ctx(u18: bool, min_entities: int | None = None, u18_min: int | None = None) -> Context:
    policy = POLICY
    if min_entities is not None:
        th = dataclasses.replace(
            POLICY.thresholds,
            min_entities=min_entities,
            u18_min_entities=u18_min or POLICY.thresholds.u18_min_entities,
        )
        policy = dataclasses.replace(POLICY, thresholds=th)
    return Context(policy=policy, u18_approved=u18)


@pytest.mark.parametrize("u18", [False, True])
@pytest.mark.parametrize("sql", QUERIES)
def test_row_count_bound_never_exceeds_the_exact_distinct_count(
    dataset: Path, sql: str, u18: bool, forced_rows_bound: None
) -> None:
    ctx = _ctx(u18)
    rw = rewrite_mod.rewrite(sql, ctx.policy, minors_possible=u18)
    tables = collect_files([dataset], u18)
    read = {t: tables[t] for t in rw.tables}
    con = locked_cursor(read)
    stats = execute._statistics(ctx, con, read)
    fast = execute._with_statistics(sql, rw, ctx, con, tables, stats)
    assert fast.fast_sql and fast.row_bounds  # the row-count bound is in use
    per = {rb.column: stats.rows(rb.relation, rb.entity, rb.dims()) for rb in fast.row_bounds}
    con.close()
    plain = plain_connection(dataset, u18)
    exact = plain.execute(rw.sql).to_arrow_table().to_pylist()
    keys = list(rw.output_columns)
    truth = {tuple(r[k] for k in keys): r for r in exact}
    got = plain.execute(fast.fast_sql).to_arrow_table()
    assert got.num_rows == len(exact) > 0
    for batch in got.to_batches():
        bounds = {
            rb.column: rb.apply(_ints(batch, rb.column), batch, per[rb.column])
            for rb in fast.row_bounds
        }
        if fast.cell_terms:  # the evaluator's cellmin: the smallest non-empty cell's bound
            cells = np.vstack([bounds.pop(c) for c in fast.cell_terms]).astype(float)
            smallest = np.where(cells > 0, cells, np.inf).min(axis=0)
            bounds["__vce_cellmin"] = np.where(np.isinf(smallest), 0, smallest)
        for i, row in enumerate(batch.to_pylist()):
            true_row = truth[tuple(row[k] for k in keys)]
            for column, bound in bounds.items():
                true = true_row[column] or 0
                assert 0 <= bound[i] <= true, (column, row)
                assert (bound[i] == 0) == (true == 0), (column, row)


def _ints(batch: pa.RecordBatch, column: str) -> np.ndarray:
    return np.asarray(batch.column(column).fill_null(0), dtype=np.int64)


@pytest.mark.parametrize(("min_entities", "u18_min"), [(2, 3), (10, 50), (200, 50)])
@pytest.mark.parametrize("u18", [False, True])
def test_release_with_row_count_bounds_equals_the_exact_release(
    dataset: Path,
    u18: bool,
    min_entities: int,
    u18_min: int,
    forced_rows_bound: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = _ctx(u18, min_entities, u18_min)
    bounded = [execute.run_checked(sql, ctx, [dataset]) for sql in QUERIES]
    monkeypatch.setattr(execute, "_with_statistics", lambda sql, rw, *a, **k: rw)
    monkeypatch.setattr(execute, "_final_sql", _exact_only(execute._final_sql))
    exact = [execute.run_checked(sql, ctx, [dataset]) for sql in QUERIES]
    decided_by_bounds = [b for b in bounded if b.checks and b.checks[0].detail]
    if min_entities == 2 and not u18:  # low thresholds: small groups are decided on bounds
        assert decided_by_bounds
    for sql, b, e in zip(QUERIES, bounded, exact, strict=True):
        assert b.allowed and e.allowed, (sql, b.reasons, e.reasons)
        assert b.suppressed_rows == e.suppressed_rows, sql
        assert _rows(b.table) == _rows(e.table), sql  # no ORDER BY: compare as sets


def _rows(table: pa.Table) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in table.to_pylist())


def _exact_only(final_sql):  # type: ignore[no-untyped-def]
    """Always hand out the exact query, so the reference never takes a fast path."""

    def exact(rw: rewrite_mod.Rewritten, fast: bool = False) -> str:
        return final_sql(rw, fast=False)

    return exact
