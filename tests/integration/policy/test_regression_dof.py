"""Regressions and correlations leave only with >= 10 residual degrees of freedom (issue 14).

A slope through a handful of points is a line through a handful of people's values. With the
entity threshold lowered to 3 (so that small groups pass it), plain DuckDB counts every
group's non-NULL pairs; the checked release must hold exactly the groups with
``pairs - 2 >= 10`` (ACRO's default), also for a FILTERed regression, and regressions on
computed values are denied before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from policy_oracle import key, plain_connection

from vce.policy import Context
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
LOW = dataclasses.replace(POLICY, thresholds=dataclasses.replace(POLICY.thresholds, min_entities=3))
GROUP = "region_code, date_trunc('month', create_time)"


@pytest.mark.parametrize(
    ("stat", "cond"),
    [
        ("regr_slope(view_count, like_count)", "TRUE"),
        ("corr(view_count, share_count)", "TRUE"),
        (
            "regr_intercept(like_count, video_duration) FILTER (WHERE video_duration >= 60)",
            "video_duration >= 60",
        ),
    ],
)
def test_only_regressions_with_ten_degrees_of_freedom_leave(
    dataset: Path, stat: str, cond: str
) -> None:
    sql = f"SELECT {GROUP} AS g, {stat} AS s FROM videos GROUP BY {GROUP}"
    res = run_checked(sql, Context(LOW), [dataset])
    assert res.allowed, res.reasons
    x, y = stat.split("(", 1)[1].split(")")[0].split(", ")
    truth = (
        plain_connection(dataset, False)
        .execute(
            f"SELECT {GROUP}, count(DISTINCT author_id) FILTER (WHERE {cond}), "
            f"regr_count({x}, {y}) FILTER (WHERE {cond}) FROM videos GROUP BY ALL"
        )
        .fetchall()
    )
    enough = {key(r[:2]) for r in truth if r[2] >= 3 and r[3] - 2 >= 10}
    few = {key(r[:2]) for r in truth if r[2] >= 3 and r[3] - 2 < 10}
    assert few and enough  # (both sides are exercised)
    released = {key((r["region_code"], r["g"])) for r in res.table.to_pylist()}
    assert released == enough
    assert next(c for c in res.checks if c.name == "regression_dof").failed >= len(few)


def test_regressions_per_region_release_under_the_default_policy(dataset: Path) -> None:
    sql = (
        "SELECT region_code, regr_slope(view_count, like_count) AS slope, "
        "regr_r2(view_count, like_count) AS r2 FROM videos GROUP BY 1"
    )
    res = run_checked(sql, Context(POLICY, u18_approved=True), [dataset])
    assert res.allowed and res.table.num_rows >= 1


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT region_code, regr_slope(view_count, like_count * 2) AS s FROM videos GROUP BY 1",
        "SELECT region_code, corr(view_count, CAST(is_stem_verified AS INTEGER)) AS s "
        "FROM videos GROUP BY 1",
        "WITH t AS (SELECT region_code, regr_slope(view_count, like_count) AS s FROM videos "
        "GROUP BY 1) SELECT region_code, s FROM t",
    ],
)
def test_regressions_on_computed_values_or_in_inner_queries_are_denied(
    dataset: Path, sql: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vce", "check", "--execute", "--data", str(dataset), "--json", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    rules = {v["rule"] for v in json.loads(out.stdout)["violations"]}
    assert rules & {"regression-dof", "contributors-unknown"}, rules
