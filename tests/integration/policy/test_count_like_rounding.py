"""Counts hidden in arithmetic between statistics are denied (issue 14, item 4; ``rounding``).

Counts leave rounded (``tests/integration/policy/test_count_rounding.py``), but a sum divided
by the average of the same values is the exact count: ``sum(x) / avg(x)`` (or the two released
side by side) gives 11 where ``count(*)`` says 10 — the membership test rounding is there to
stop. Plain DuckDB shows the exact counts those forms would give; the checked path and the CLI
deny them before reading data. ``count_if`` / ``sum(1)`` of a one-person difference still leave
rounded to the same number.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from policy_oracle import plain_connection

from vce.policy import Context
from vce.policy.checks.rounding import round_to
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
BASE = POLICY.thresholds.rounding

HIDDEN = {
    "sum over avg": "sum(view_count) / avg(view_count) AS n",
    "sum times one over avg": "sum(like_count) * (1.0 / avg(like_count)) AS n",
    "side by side": "sum(view_count) AS s, avg(view_count) AS a",
    "side by side with FILTER": "sum(view_count) FILTER (WHERE is_stem_verified) AS s, "
    "avg(view_count) FILTER (WHERE is_stem_verified) AS a",
    "avg over sum": "avg(share_count) / sum(share_count) AS inv",
    "sum of offset minus sum": "sum(view_count + 1) - sum(view_count) AS n",
    "sum and mean side by side": "sum(like_count) AS s, mean(like_count) AS a",
    "sample over population variance": "var_samp(view_count) / var_pop(view_count) AS r",
    "sample and population stddev side by side": "stddev_samp(like_count) AS a, "
    "stddev_pop(like_count) AS b",
}


def test_the_hidden_counts_are_exact_in_plain_duckdb(dataset: Path) -> None:
    """Ground truth: what sum / avg would have released is the exact, unrounded count."""
    rows = (
        plain_connection(dataset, False)
        .execute(
            "SELECT count(*), sum(view_count) / avg(view_count) FROM videos GROUP BY region_code"
        )
        .fetchall()
    )
    assert all(round(q) == n for n, q in rows)
    assert any(n % BASE for n, _ in rows)  # some count is not a multiple of the base


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
@pytest.mark.parametrize("form", list(HIDDEN))
def test_arithmetic_that_rebuilds_a_count_is_denied(dataset: Path, form: str, u18: bool) -> None:
    sql = f"SELECT region_code, {HIDDEN[form]} FROM videos GROUP BY 1"
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
    assert not res.allowed and not res.files_read, form
    assert {v.rule for v in res.reasons} & {"count-arithmetic", "restricted-expression"}


def test_the_cli_denies_a_sum_over_its_average(dataset: Path) -> None:
    sql = "SELECT region_code, sum(view_count) / avg(view_count) AS n FROM videos GROUP BY 1"
    out = subprocess.run(
        [sys.executable, "-m", "vce", "check", "--execute", "--data", str(dataset), "--json", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    assert [v["rule"] for v in json.loads(out.stdout)["violations"]] == ["count-arithmetic"]


def test_a_membership_test_by_count_gives_the_same_rounded_numbers(dataset: Path) -> None:
    """11 versus 10: a count of constants leaves rounded, and the forms that leave one video
    out (the membership test itself) are withheld by low-effect rather than rounded."""
    con = plain_connection(dataset, False)
    region, ts = con.execute(
        "SELECT region_code, create_time FROM videos WHERE region_code = (SELECT region_code "
        "FROM videos GROUP BY 1 HAVING count(*) % 5 = 1 LIMIT 1) LIMIT 1"
    ).fetchone()
    exact = con.execute(f"SELECT count(*) FROM videos WHERE region_code = '{region}'").fetchone()
    assert exact[0] % BASE == 1  # one video less gives the same rounded count
    where = f"FROM videos WHERE region_code = '{region}' GROUP BY 1"
    res = run_checked(
        f"SELECT region_code, sum(1) AS c, count(*) AS n {where}", Context(POLICY), [dataset]
    )
    assert res.allowed, res.reasons
    (row,) = res.table.to_pylist()
    assert row["c"] == row["n"] == round_to(exact[0], BASE)
    for form in (
        f"count_if(create_time <> TIMESTAMP '{ts}')",
        f"sum(CASE WHEN create_time <> TIMESTAMP '{ts}' THEN 1 ELSE 0 END)",
    ):
        res = run_checked(f"SELECT region_code, {form} AS c {where}", Context(POLICY), [dataset])
        assert res.allowed and res.table.num_rows == 0, form
        assert res.suppressed_rows == 1, form
