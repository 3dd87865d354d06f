"""Every count-like value leaves rounded, however the count is written (issue 14, item 4).

Before, only ``count()`` was rounded: ``sum(1)``, ``count_if(c)`` or ``sum(CASE WHEN c THEN 1
ELSE 0 END)`` released exact counts, so a membership test (11 versus 10) told whether one
person had a property. Ground truth is recomputed with plain DuckDB over the same partitions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_oracle import plain_connection

from vce.policy import Context
from vce.policy.checks.rounding import round_to
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
BASE = POLICY.thresholds.rounding

FORMS = {
    "a": ("sum(1)", "count(*)"),
    "b": ("count_if(is_stem_verified)", "count(*) FILTER (WHERE is_stem_verified)"),
    "c": (
        "sum(CASE WHEN is_stem_verified THEN 1 ELSE 0 END)",
        "count(*) FILTER (WHERE is_stem_verified)",
    ),
    "d": ("sum(CAST(is_stem_verified AS INTEGER))", "count(*) FILTER (WHERE is_stem_verified)"),
    "e": ("sum(1) FILTER (WHERE view_count > 1000)", "count(*) FILTER (WHERE view_count > 1000)"),
    "f": ("sum(IF(like_count > 10, 1, 0))", "count(*) FILTER (WHERE like_count > 10)"),
}


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_count_like_sums_are_released_rounded(dataset: Path, u18: bool) -> None:
    outs = ", ".join(f"{sql} AS {name}" for name, (sql, _) in FORMS.items())
    sql = f"SELECT region_code, {outs} FROM videos GROUP BY 1"
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
    assert res.allowed, res.reasons
    truth_outs = ", ".join(f"{t} AS {name}" for name, (_, t) in FORMS.items())
    truth = {
        r[0]: dict(zip(FORMS, r[1:], strict=True))
        for r in plain_connection(dataset, u18)
        .execute(f"SELECT region_code, {truth_outs} FROM videos GROUP BY 1")
        .fetchall()
    }
    rows = res.table.to_pylist()
    assert len(rows) >= (1 if u18 else 5)  # (U18: cells with a minor need 50 people)
    exact_somewhere = False
    for row in rows:
        for name in FORMS:
            exact = truth[row["region_code"]][name]
            exact_somewhere |= exact % BASE != 0
            assert row[name] % BASE == 0 and row[name] == round_to(exact, BASE), (row, name)
    assert exact_somewhere  # (else rounding would not be tested)
    assert set(FORMS) <= set(res.rounded_columns)


def test_avg_of_an_indicator_is_a_ratio_of_rounded_counts(dataset: Path) -> None:
    sql = (
        "SELECT region_code, avg(CASE WHEN is_stem_verified THEN 1 ELSE 0 END) AS share "
        "FROM videos GROUP BY 1"
    )
    res = run_checked(sql, Context(POLICY), [dataset])
    assert res.allowed and res.table.num_rows >= 5
    truth = dict(
        (g, (s, n))
        for g, s, n in plain_connection(dataset, False)
        .execute(
            "SELECT region_code, count(*) FILTER (WHERE is_stem_verified), count(*) "
            "FROM videos GROUP BY 1"
        )
        .fetchall()
    )
    for row in res.table.to_pylist():
        s, n = truth[row["region_code"]]
        assert row["share"] == pytest.approx(round_to(s, BASE) / round_to(n, BASE), abs=1e-12)


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_count_like_sums_of_an_inner_query_are_rounded(dataset: Path, u18: bool) -> None:
    sql = (
        "WITH t AS (SELECT age_band, sum(1) AS n, sum(CAST(is_verified AS INTEGER)) AS v "
        "FROM users GROUP BY 1) SELECT age_band, n, v FROM t"
    )
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
    assert res.allowed and res.table.num_rows >= 2
    truth = {
        g: (n, v)
        for g, n, v in plain_connection(dataset, u18)
        .execute("SELECT age_band, count(*), count_if(is_verified) FROM users GROUP BY 1")
        .fetchall()
    }
    for row in res.table.to_pylist():
        n, v = truth[row["age_band"]]
        assert (row["n"], row["v"]) == (round_to(n, BASE), round_to(v, BASE)), row


def test_a_count_multiplied_with_an_average_is_denied_before_running(dataset: Path) -> None:
    sql = (
        "WITH t AS (SELECT region_code, avg(like_count) AS a, count(*) AS n FROM videos "
        "GROUP BY 1) SELECT region_code, a * n AS likes FROM t"
    )
    res = run_checked(sql, Context(POLICY), [dataset])
    assert not res.allowed and not res.files_read
    assert [v.rule for v in res.reasons] == ["count-arithmetic"]
