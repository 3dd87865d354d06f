"""Per-value statistics behind the fast pass's bounds, checked against plain DuckDB.

A group restricted to one value of a dimension (a WHERE value, a GROUP BY key, the condition
of a conditional aggregate) is bounded with the busiest entities' rows and the largest
per-entity sums *among the rows having that value* (:mod:`vce.policy.bounds`). These tests
recompute those statistics and the bounds' truth independently, and show a dominant
contributor in one region is still caught.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from policy_oracle import plain_connection

import vce.policy.bounds as bounds
import vce.policy.execute as execute
import vce.policy.rewrite as rewrite_mod
from vce.policy import Context
from vce.policy.engine import _sum_value_tops, collect_files, locked_cursor, value_stats
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
DOMINANCE = (
    "SELECT region_code, date_trunc('month', create_time) AS m, sum(view_count) AS views "
    "FROM videos GROUP BY region_code, date_trunc('month', create_time)"
)


@pytest.fixture
def forced_rows_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the row-count bound wherever it is valid, however small the dataset."""
    monkeypatch.setattr(bounds, "ROWS_BOUND_SHARE", 1)
    monkeypatch.setattr(rewrite_mod, "_CACHE", {})


def _fast(sql: str, data: Path) -> rewrite_mod.Rewritten:
    ctx = Context(policy=POLICY, u18_approved=False)
    rw = rewrite_mod.rewrite(sql, POLICY, minors_possible=False)
    tables = collect_files([data], False)
    con = locked_cursor({t: tables[t] for t in rw.tables})
    try:
        return execute._with_entity_rows(sql, rw, ctx, con, tables)
    finally:
        con.close()


def test_value_stats_match_a_plain_group_by(dataset: Path) -> None:
    tables = collect_files([dataset], False)
    con = locked_cursor({"videos": tables["videos"]})
    stats = value_stats(
        con,
        {"videos": tables["videos"]},
        [("videos", "author_id", "region_code")],
        [("videos", "author_id", "region_code", "view_count")],
        depth=3,
        top_n=2,
    )
    con.close()
    plain = plain_connection(dataset, False)
    per = (
        "SELECT region_code, author_id, count(*) AS n, sum(view_count) AS s, "
        "row_number() OVER (PARTITION BY region_code ORDER BY count(*) DESC) AS rn, "
        "row_number() OVER (PARTITION BY region_code ORDER BY sum(view_count) DESC) AS rs "
        "FROM videos GROUP BY 1, 2"
    )
    truth = plain.execute(
        f"SELECT region_code, sum(n), sum(n) FILTER (WHERE rn <= 3), sum(s) FILTER (WHERE rs <= 2) "
        f"FROM ({per}) GROUP BY 1"
    ).fetchall()
    rows = stats.value_rows("videos", "author_id", "region_code")
    tops = stats.value_tops("videos", "author_id", "region_code", "view_count")
    assert rows is not None and len(rows) == len(truth) > 10
    for region, total, busiest3, top2 in truth:
        assert rows[region].total == total
        assert rows[region].rows_of(3) == busiest3
        assert tops[region] == top2


def test_a_measure_with_a_negative_value_gets_no_top_sums() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('a', 1, 5), ('a', 2, 3)) v(d, k, m)")
    assert _sum_value_tops(con, "t", "k", "d", "m", 2) == (("a", 8),)
    con.execute("INSERT INTO t VALUES ('b', 1, -4)")  # a subset of 1's rows now sums to more
    assert _sum_value_tops(con, "t", "k", "d", "m", 2) is None


@pytest.mark.parametrize(
    ("sql", "shown"),
    [
        (  # the per-region limits: a CASE on the group key
            "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code",
            'CASE "videos"."region_code" WHEN',
        ),
        (  # the cell counted among STEM rows: its own row count, compared with their limits
            "SELECT region_code, avg(CASE WHEN is_stem_verified THEN 1.0 ELSE 0.0 END) AS s, "
            "count(*) AS n FROM videos GROUP BY ALL",
            'COUNT(*) FILTER(WHERE "videos"."is_stem_verified") >',
        ),
    ],
)
def test_per_value_row_bounds_are_in_use_and_never_exceed_the_truth(
    dataset: Path, sql: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = plain_connection(dataset, False)
    (videos,) = plain.execute("SELECT count(*) FROM videos").fetchone()
    # the table's counts never decide here, every value's always do: per-value limits only
    monkeypatch.setattr(bounds.EntityRows, "useful", lambda self, t: self.total < videos)
    monkeypatch.setattr(rewrite_mod, "_CACHE", {})
    fast = _fast(sql, dataset)
    assert fast.fast_sql and shown in fast.fast_sql
    exact = rewrite_mod.rewrite(sql, POLICY, minors_possible=False)
    helpers = [*fast.lower_bound_slots, *(["__vce_cellmin"] if fast.cells else [])]
    cols = ", ".join(f'"{c}"' for c in ["region_code", *helpers])
    got = dict_rows(plain.execute(f"SELECT {cols} FROM ({fast.fast_sql})").fetchall())
    truth = dict_rows(plain.execute(f"SELECT {cols} FROM ({exact.sql})").fetchall())
    assert set(got) == set(truth) and len(got) > 10
    for region, bounds_of_row in got.items():
        for bound, true in zip(bounds_of_row, truth[region], strict=True):
            assert (bound or 0) <= (true or 0)


def dict_rows(rows: list[tuple]) -> dict[object, tuple]:
    """First column → the others."""
    return {r[0]: r[1:] for r in rows}


def test_per_value_dominance_bound_is_never_below_the_exact_top2(
    dataset: Path, forced_rows_bound: None
) -> None:
    fast = _fast(DOMINANCE, dataset)
    assert fast.fast_sql and "HASH(" not in fast.fast_sql  # no read of author_id at all
    con = plain_connection(dataset, False)
    bound = {
        (r["region_code"], r["m"]): r["__vce_dtop0"]
        for r in con.execute(fast.fast_sql).to_arrow_table().to_pylist()
    }
    exact = {
        (g, m): top
        for g, m, top in con.execute(
            "SELECT region_code, m, sum(s) FILTER (WHERE r <= 2) FROM (SELECT *, row_number() "
            "OVER (PARTITION BY region_code, m ORDER BY s DESC) r FROM (SELECT region_code, "
            "date_trunc('month', create_time) m, author_id, sum(view_count) s FROM videos "
            "GROUP BY ALL)) GROUP BY ALL"
        ).fetchall()
    }
    assert len(exact) > 50 and set(exact) == set(bound)
    assert all(bound[k] >= exact[k] for k in exact)


def test_one_author_dominating_one_region_is_suppressed(dataset: Path, tmp_path: Path) -> None:
    """Seed a region whose views are almost all one author's, then ask for every region.

    Every region is large enough that the fast pass decides all other checks: only a
    per-region bound that counts the seeded author's views stops the region there.
    """
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    part = next((data / "videos").glob("audience=adult/*.parquet"))
    videos = pq.read_table(part)
    row = videos.slice(0, 1).to_pylist()[0]
    extra = [dict(row, id=10**15 + i, view_count=10**12 + i) for i in range(3)]
    pq.write_table(pa.concat_tables([videos, pa.Table.from_pylist(extra, videos.schema)]), part)
    sql = "SELECT region_code, sum(view_count) AS views FROM videos GROUP BY region_code"
    res = run_checked(sql, Context(policy=POLICY, u18_approved=False), [data])
    assert res.allowed, res.reasons
    released = {r["region_code"] for r in res.table.to_pylist()}
    assert row["region_code"] not in released
    assert next(c for c in res.checks if c.name == "dominance").failed == 1
    assert len(released) > 10  # the other regions still leave
