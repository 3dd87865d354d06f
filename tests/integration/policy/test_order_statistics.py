"""A quantile leaves only with enough people strictly below and strictly above it (issue 14).

``quantile_disc(x, 0.9999)`` of a region is its largest value: one person's. For every
released cell, plain DuckDB over the same partitions recomputes the quantile and counts the
distinct entities strictly below and strictly above it; each must meet the threshold the row
needs (the U18 one where a minor is among the group). Both directions are asserted: nothing
unsafe leaves, and every group the independent count calls safe is released.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_oracle import key, plain_connection

from vce.policy import Context
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
TH = POLICY.thresholds

# (table, entity, group key, released quantile as the query writes it, its measure, FILTER)
CASES = [
    ("videos", "author_id", "region_code", "quantile_disc(view_count, 0.9999)", "view_count", ""),
    ("videos", "author_id", "region_code", "quantile_disc(view_count, 0.01)", "view_count", ""),
    ("videos", "author_id", "region_code", "median(like_count)", "like_count", ""),
    ("videos", "author_id", "region_code", "quantile_cont(view_count, 0.9)", "view_count", ""),
    (
        "videos",
        "author_id",
        "region_code",
        "percentile_disc(0.99) WITHIN GROUP (ORDER BY share_count)",
        "share_count",
        "",
    ),
    (
        "users",
        "user_id",
        "age_band",
        "quantile_disc(follower_count, 0.95) FILTER (WHERE is_verified)",
        "follower_count",
        "is_verified",
    ),
    ("users", "user_id", "age_band", "quantile_disc(follower_count, 0.999)", "follower_count", ""),
]


def _truth(con, table, entity, group, quantile, measure, cond) -> dict[tuple, bool]:
    """Per group: whether the quantile passes (group, below and above all ≥ the threshold)."""
    where = f"WHERE {cond}" if cond else ""
    rows = con.execute(
        f"WITH g AS (SELECT {group} AS k, {quantile} AS q, count(DISTINCT {entity}) AS n, "
        f"bool_or(audience = 'minor') AS minor FROM {table} GROUP BY 1), "
        f"r AS (SELECT {group} AS k, {entity} AS e, {measure} AS v FROM {table} {where}) "
        "SELECT g.k, g.n, g.minor, count(DISTINCT r.e) FILTER (WHERE r.v < g.q), "
        "count(DISTINCT r.e) FILTER (WHERE r.v > g.q) FROM g LEFT JOIN r ON r.k = g.k "
        "GROUP BY ALL"
    ).fetchall()
    out = {}
    for k, n, minor, below, above in rows:
        need = max(TH.min_entities, TH.u18_min_entities if minor else 0)
        out[key((k,))] = n >= need and below >= need and above >= need
    return out


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_released_quantiles_have_enough_people_on_both_sides(dataset: Path, u18: bool) -> None:
    plain = plain_connection(dataset, u18)
    withheld = 0
    for case in CASES:
        table, _, group, quantile, _, _ = case
        sql = f"SELECT {group}, {quantile} AS q FROM {table} GROUP BY 1"
        res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
        assert res.allowed, (quantile, res.reasons)
        truth = _truth(plain, *case)
        safe = {k for k, ok in truth.items() if ok}
        released = {key((r[group],)) for r in res.table.to_pylist()}
        assert released <= safe, f"{quantile}: an unsafe quantile left"
        assert released == safe, f"{quantile}: a safe quantile was withheld"
        withheld += next(c.suppressed for c in res.checks if c.name == "order_statistic")
    assert withheld > 0  # (the extremes are withheld by this check, not by another)


def test_extreme_quantiles_are_suppressed_where_the_median_is_released(dataset: Path) -> None:
    ctx = Context(POLICY)
    top = run_checked(
        "SELECT region_code, quantile_disc(view_count, 0.9999) AS q FROM videos GROUP BY 1",
        ctx,
        [dataset],
    )
    mid = run_checked(
        "SELECT region_code, median(view_count) AS q FROM videos GROUP BY 1", ctx, [dataset]
    )
    assert mid.table.num_rows >= 5 and top.table.num_rows < mid.table.num_rows
    check = next(c for c in top.checks if c.name == "order_statistic")
    assert check.failed >= mid.table.num_rows - top.table.num_rows > 0


EXTREMES = [
    "quantile_disc(view_count, 1.0)",
    "quantile_disc(view_count, 0.0)",
    "quantile_disc(view_count, 0.9999)",
    "quantile_disc(view_count, 0.0001)",
    "quantile_cont(view_count, [0, 1])",
    "percentile_disc(1.0) WITHIN GROUP (ORDER BY view_count)",
    "quantile_disc(CASE WHEN is_stem_verified THEN view_count END, 0.99)",
    "median(view_count) FILTER (WHERE video_duration > 170)",
]


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
@pytest.mark.parametrize("quantile", EXTREMES)
def test_no_exact_extreme_leaves_through_the_cli(dataset: Path, quantile: str, u18: bool) -> None:
    """Every form that used to give a maximum or minimum: denied, or no released extreme."""
    import json
    import subprocess
    import sys

    sql = f"SELECT region_code, {quantile} AS q FROM videos GROUP BY 1"
    args = ["--u18"] if u18 else []
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vce",
            "check",
            "--execute",
            "--reviewer",
            "--data",
            str(dataset),
            *args,
            "--json",
            sql,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(out.stdout)
    extremes = {
        g: (lo, hi)
        for g, lo, hi in plain_connection(dataset, u18)
        .execute("SELECT region_code, min(view_count), max(view_count) FROM videos GROUP BY 1")
        .fetchall()
    }
    for row in report.get("rows") or []:
        assert row["q"] not in extremes[row["region_code"]], (quantile, row)
