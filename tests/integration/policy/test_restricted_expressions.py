"""Only expressions the engine can analyse go inside aggregates (issue 14, item 2).

A condition written as arithmetic — ``x * least(1, abs(epoch(create_time) - epoch(T)))`` — is
a filter no predicate check sees: ``sum(x)`` minus it is one video's views. Plain DuckDB shows
each attack would give the target's exact value; the checked path (``run_checked`` and the
CLI) denies it before reading data, with the rule ``restricted-expression`` and a suggestion.
Analysable forms (a column, transforms of one measure, FILTER / CASE cells) still release,
with the same values plain DuckDB computes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from policy_oracle import plain_connection

from vce.policy import Context
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
RULE = "restricted-expression"


@pytest.fixture(scope="module")
def target(dataset: Path) -> tuple[str, str, int]:
    """One video in the biggest region: its region, create_time literal and view count."""
    region, ts, views = (
        plain_connection(dataset, False)
        .execute(
            "SELECT region_code, create_time, view_count FROM videos WHERE region_code = "
            "(SELECT region_code FROM videos GROUP BY 1 ORDER BY count(*) DESC LIMIT 1) "
            "AND view_count > 0 ORDER BY view_count DESC LIMIT 1"
        )
        .fetchone()
    )
    return region, f"TIMESTAMP '{ts}'", views


# (attack, SQL with {T} the target's create_time): each isolates the target by arithmetic
ATTACKS = {
    "least-abs indicator": "sum(view_count * least(1, abs(epoch(create_time) - epoch({T}))))",
    "comparison as number": "sum(view_count * CAST(create_time <> {T} AS INTEGER))",
    "greatest mixing": "sum(greatest(view_count, 0) * least(1, abs(epoch(create_time) "
    "- epoch({T}))))",
    "offset in CASE": "sum(CASE WHEN create_time <> {T} THEN 1000000000 ELSE view_count "
    "+ 1000000000 END)",
    "constant branch": "sum(CASE WHEN create_time = {T} THEN view_count ELSE 0 END) + "
    "sum(CASE WHEN create_time <> {T} THEN 7 ELSE view_count END)",
    "avg of indicator arithmetic": "avg(view_count * least(1, abs(epoch(create_time) "
    "- epoch({T}))))",
    "mixed columns": "sum(view_count + like_count * least(1, abs(epoch(create_time) "
    "- epoch({T}))))",
    "power as indicator": "sum(view_count * power(0, abs(epoch(create_time) - epoch({T}))))",
    "negated measure": "sum(-view_count)",
    "sum of distinct values": "sum(DISTINCT view_count)",
    "offset outside CASE": "sum(view_count + 1)",
    "regression on an indicator": "regr_intercept(view_count, least(1, abs(epoch(create_time) "
    "- epoch({T}))))",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_arithmetic_that_can_act_as_an_indicator_is_denied(
    dataset: Path, target: tuple[str, str, int], attack: str
) -> None:
    _, ts, _ = target
    expr = ATTACKS[attack].format(T=ts)
    sql = f"SELECT region_code, {expr} AS s FROM videos GROUP BY 1"
    res = run_checked(sql, Context(POLICY), [dataset])
    assert not res.allowed and not res.files_read, attack
    rules = {v.rule for v in res.reasons}
    assert rules & {RULE, "regression-dof"}, (attack, res.reasons)
    message = next(v.message for v in res.reasons if v.rule in (RULE, "regression-dof"))
    assert "e.g." in message or "as it is" in message  # a suggested analysable form


def test_the_indicator_attack_is_a_real_leak_in_plain_duckdb(
    dataset: Path, target: tuple[str, str, int]
) -> None:
    """Ground truth: the denied query would have given the target's exact views."""
    region, ts, views = target
    con = plain_connection(dataset, False)
    total, masked = con.execute(
        f"SELECT sum(view_count), {ATTACKS['least-abs indicator'].format(T=ts)} FROM videos "
        f"WHERE region_code = '{region}'"
    ).fetchone()
    assert total - masked == views
    sql = (
        f"SELECT region_code, sum(view_count) AS a, "
        f"{ATTACKS['least-abs indicator'].format(T=ts)} AS b FROM videos GROUP BY 1"
    )
    assert RULE in {v.rule for v in run_checked(sql, Context(POLICY), [dataset]).reasons}


def test_an_indicator_computed_in_an_inner_query_is_denied(
    dataset: Path, target: tuple[str, str, int]
) -> None:
    _, ts, _ = target
    sql = (
        "WITH t AS (SELECT region_code, view_count * least(1, abs(epoch(create_time) - "
        f"epoch({ts}))) AS v FROM videos) SELECT region_code, sum(v) AS s FROM t GROUP BY 1"
    )
    res = run_checked(sql, Context(POLICY), [dataset])
    assert not res.allowed and RULE in {v.rule for v in res.reasons}
    sql = (
        "WITH t AS (SELECT region_code, least(1, abs(epoch(create_time) - "
        f"epoch({ts}))) AS i FROM videos) SELECT region_code, sum(i) AS s FROM t GROUP BY 1"
    )
    res = run_checked(sql, Context(POLICY, u18_approved=True), [dataset])
    assert not res.allowed and RULE in {v.rule for v in res.reasons}


def test_the_cli_denies_with_the_rule_and_a_suggestion(
    dataset: Path, target: tuple[str, str, int]
) -> None:
    _, ts, _ = target
    sql = (
        f"SELECT region_code, {ATTACKS['least-abs indicator'].format(T=ts)} AS s "
        "FROM videos GROUP BY 1"
    )
    out = subprocess.run(
        [sys.executable, "-m", "vce", "check", "--execute", "--data", str(dataset), "--json", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stderr
    violations = json.loads(out.stdout)["violations"]
    assert [v["rule"] for v in violations] == [RULE]
    assert "FILTER (WHERE" in violations[0]["message"]


# analysable forms: (checked SQL, the same value in plain DuckDB)
ALLOWED = {
    "column": ("sum(view_count)", "sum(view_count)"),
    "abs": ("sum(abs(view_count))", "sum(abs(view_count))"),
    "log1p": ("avg(ln(view_count + 1))", "avg(ln(view_count + 1))"),
    "positive scale": ("sum(view_count * 2)", "sum(view_count * 2)"),
    "per thousand": ("avg(view_count / 1000.0)", "avg(view_count / 1000.0)"),
    "rounded": ("sum(round(like_count / 10.0))", "sum(round(like_count / 10.0))"),
    "binned": (
        "avg(floor(view_count / 1000) * 1000)",
        "avg(floor(view_count / 1000) * 1000)",
    ),
    "case cell": (
        "sum(CASE WHEN is_stem_verified THEN view_count ELSE 0 END)",
        "coalesce(sum(view_count) FILTER (WHERE is_stem_verified), 0)",
    ),
    "case null": (
        "avg(CASE WHEN video_duration >= 60 THEN like_count END)",
        "avg(like_count) FILTER (WHERE video_duration >= 60)",
    ),
    "filter": (
        "sum(view_count) FILTER (WHERE video_duration < 60)",
        "sum(view_count) FILTER (WHERE video_duration < 60)",
    ),
    "stddev": ("stddev(video_duration)", "stddev(video_duration)"),
}


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_analysable_forms_release_the_values_plain_duckdb_computes(
    dataset: Path, u18: bool
) -> None:
    outs = ", ".join(f"{sql} AS {n.replace(' ', '_')}" for n, (sql, _) in ALLOWED.items())
    sql = f"SELECT region_code, {outs} FROM videos GROUP BY 1"
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
    assert res.allowed, res.reasons
    assert res.table.num_rows >= (1 if u18 else 5)  # (small FILTER cells withhold some)
    truth_outs = ", ".join(f"{t}" for _, t in ALLOWED.values())
    truth = {
        r[0]: r[1:]
        for r in plain_connection(dataset, u18)
        .execute(f"SELECT region_code, {truth_outs} FROM videos GROUP BY 1")
        .fetchall()
    }
    for row in res.table.to_pylist():
        want = truth[row["region_code"]]
        for (name, _), value in zip(ALLOWED.items(), want, strict=True):
            got = row[name.replace(" ", "_")]
            if value is None:
                assert got is None, name
            else:
                assert float(got) == pytest.approx(float(value)), name
