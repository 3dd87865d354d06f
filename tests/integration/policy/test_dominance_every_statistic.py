"""Dominance and the p% rule on every additive statistic of a protected measure (issue 14).

Before, only ``sum`` was checked: ``avg(view_count)`` of a region where one account holds 98%
of the views left, and ``avg × n`` (n rounded) gives that account's total back to within
rounding. A copy of the generated dataset is seeded with one dominant author; plain DuckDB
computes every region's per-author top-2 share and p-ratio, and the checked release must hold
exactly the regions the rules let through — for sum, avg, stddev and FILTERed cells alike.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from policy_oracle import plain_connection

from vce.policy import Context
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
TH = POLICY.thresholds


def _seed(dataset: Path, out: Path, region: str, views: int, **changes: object) -> Path:
    """A copy of ``dataset`` plus three videos of one author of ``region`` worth ``views``."""
    data = out / "data"
    shutil.copytree(dataset, data)
    for part in (data / "videos").glob("audience=adult/*.parquet"):
        videos = pq.read_table(part)
        rows = [r for r in videos.to_pylist() if r["region_code"] == region]
        if rows:
            extra = [
                dict(rows[0], id=10**15 + i, view_count=views // 3, **changes) for i in range(3)
            ]
            table = pa.concat_tables([videos, pa.Table.from_pylist(extra, videos.schema)])
            pq.write_table(table, part)
            return data
    raise AssertionError(f"no video of {region}")


def _shares(data: Path, cond: str = "TRUE") -> dict[str, tuple[float, float]]:
    """Per region: (top-2 authors' share of the views, ACRO's p-ratio) over rows with cond."""
    rows = (
        plain_connection(data, False)
        .execute(
            "WITH a AS (SELECT region_code, author_id, sum(view_count) AS s FROM videos "
            f"WHERE {cond} GROUP BY 1, 2), r AS (SELECT *, row_number() OVER (PARTITION BY "
            "region_code ORDER BY s DESC) AS k FROM a) SELECT region_code, sum(s), "
            "sum(s) FILTER (WHERE k <= 2), max(s) FROM r GROUP BY 1"
        )
        .fetchall()
    )
    out = {}
    for region, total, top2, top1 in rows:
        total, top2, top1 = float(total), float(top2), float(top1)
        out[region] = (top2 / total, (total - top2) / top1 if total > 0 else 1.0)
    return out


@pytest.fixture(scope="module")
def dominated(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The dataset with one author holding about 98% of one mid-sized region's views."""
    region, total = (
        plain_connection(dataset, False)
        .execute(
            "SELECT region_code, sum(view_count) FROM videos GROUP BY 1 ORDER BY 2 LIMIT 1 OFFSET 5"
        )
        .fetchone()
    )
    data = _seed(dataset, tmp_path_factory.mktemp("dom"), region, int(total) * 50)
    assert _shares(data)[region][0] > 0.95
    return data, region


STATISTICS = [
    "sum(view_count)",
    "avg(view_count)",
    "mean(view_count)",
    "stddev(view_count)",
    "var_samp(view_count)",
    "avg(view_count / 1000.0)",
    "avg(CASE WHEN video_duration >= 0 THEN view_count END)",
]


@pytest.mark.parametrize("stat", STATISTICS)
def test_a_dominated_region_is_withheld_for_every_statistic(
    dominated: tuple[Path, str], stat: str
) -> None:
    data, region = dominated
    sql = f"SELECT region_code, {stat} AS v FROM videos GROUP BY 1"
    res = run_checked(sql, Context(POLICY), [data])
    assert res.allowed, res.reasons
    released = {r["region_code"] for r in res.table.to_pylist()}
    safe = {g for g, (share, p) in _shares(data).items() if share <= TH.dominance_k and p >= 0.1}
    assert region not in released
    assert released == safe
    assert next(c for c in res.checks if c.name == "dominance").failed >= 1


def test_avg_times_rounded_count_no_longer_rebuilds_the_withheld_sum(
    dominated: tuple[Path, str],
) -> None:
    """The attack of the issue: avg and count in one release; the avg is now withheld."""
    data, region = dominated
    sql = "SELECT region_code, avg(view_count) AS a, count(*) AS n FROM videos GROUP BY 1"
    res = run_checked(sql, Context(POLICY), [data])
    truth = (
        plain_connection(data, False)
        .execute(
            f"SELECT avg(view_count) * count(*), sum(view_count) FROM videos "
            f"WHERE region_code = '{region}'"
        )
        .fetchone()
    )
    assert truth[0] == pytest.approx(float(truth[1]))  # what the release would have given
    assert region not in {r["region_code"] for r in res.table.to_pylist()}


def test_a_dominated_filtered_cell_is_withheld(dataset: Path, tmp_path: Path) -> None:
    """Dominance is computed over the FILTER's rows, not over the whole group."""
    con = plain_connection(dataset, False)
    region, stem = con.execute(
        "SELECT region_code, sum(view_count) FILTER (WHERE is_stem_verified) AS s FROM videos "
        "GROUP BY 1 HAVING s > 0 ORDER BY sum(view_count) DESC LIMIT 1"
    ).fetchone()
    data = _seed(dataset, tmp_path, region, int(stem) * 30, is_stem_verified=True)
    assert _shares(data)[region][0] <= TH.dominance_k  # the region as a whole passes
    assert _shares(data, "is_stem_verified")[region][0] > TH.dominance_k
    sql = (
        "SELECT region_code, sum(view_count) AS v, avg(view_count) FILTER (WHERE "
        "is_stem_verified) AS stem FROM videos GROUP BY 1"
    )
    res = run_checked(sql, Context(POLICY), [data])
    assert res.allowed, res.reasons
    assert region not in {r["region_code"] for r in res.table.to_pylist()}


def test_the_p_percent_rule_withholds_what_n_k_lets_through(dataset: Path, tmp_path: Path) -> None:
    """With k = 0.99 a 93% contributor passes (n, k); ACRO's p% rule (p = 10%) stops it."""
    region, total = (
        plain_connection(dataset, False)
        .execute("SELECT region_code, sum(view_count) FROM videos GROUP BY 1 ORDER BY 2 LIMIT 1")
        .fetchone()
    )
    data = _seed(dataset, tmp_path, region, int(total) * 14)
    share, p = _shares(data)[region]
    assert share <= 0.99 and p < 0.1
    lax = dataclasses.replace(POLICY, thresholds=dataclasses.replace(TH, dominance_k=0.99))
    sql = "SELECT region_code, avg(view_count) AS v FROM videos GROUP BY 1"
    res = run_checked(sql, Context(lax), [data])
    assert res.allowed, res.reasons
    assert region not in {r["region_code"] for r in res.table.to_pylist()}
    assert res.table.num_rows >= 10


def test_mean_over_one_video_is_an_aggregate_and_is_suppressed(dataset: Path) -> None:
    """``mean`` was not seen as an aggregate: on a row-exportable table it leaked one row."""
    ts, views = (
        plain_connection(dataset, False)
        .execute("SELECT create_time, view_count FROM videos ORDER BY id LIMIT 1")
        .fetchone()
    )
    sql = f"SELECT mean(view_count) AS m FROM videos WHERE create_time = TIMESTAMP '{ts}'"
    truth = plain_connection(dataset, False).execute(sql).fetchone()[0]
    assert truth == views  # what it released before
    res = run_checked(sql, Context(POLICY), [dataset])
    assert res.allowed and res.table.num_rows == 0 and res.suppressed_rows == 1


def test_group_by_all_is_checked_like_listed_keys(dominated: tuple[Path, str]) -> None:
    """GROUP BY ALL: the side query groups by every output without an aggregate."""
    data, region = dominated
    sql = "SELECT region_code, avg(view_count) AS v FROM videos GROUP BY ALL"
    res = run_checked(sql, Context(POLICY), [data])
    assert res.allowed, res.reasons
    released = {r["region_code"] for r in res.table.to_pylist()}
    safe = {g for g, (share, p) in _shares(data).items() if share <= TH.dominance_k and p >= 0.1}
    assert region not in released and released == safe
