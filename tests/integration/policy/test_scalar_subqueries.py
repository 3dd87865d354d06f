"""Scalar subqueries in every position end in a decision, and released values are exact.

``SELECT (SELECT count(*) FROM users)`` used to raise ``AttributeError`` inside the rewrite
(a SELECT without FROM had nowhere to attach the lifted subquery). Every shape below must be
allowed with its contributors counted or denied with a reason; released values are compared
with plain DuckDB over the same partitions.
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

SHAPES = [
    "SELECT (SELECT count(*) FROM users)",
    "SELECT (SELECT count(*) FROM users) AS n",
    "SELECT (SELECT count(*) FROM users) + 1 AS n",
    "SELECT (SELECT count(*) FROM users) AS n ORDER BY 1",
    "SELECT (SELECT avg(follower_count) FROM users) AS a, (SELECT count(*) FROM videos) AS b",
    "SELECT (SELECT count(*) FROM users) - (SELECT count(*) FROM users WHERE region_code = 'FR')"
    " AS d",
    "SELECT (SELECT count(*) FROM users) AS n UNION ALL SELECT (SELECT count(*) FROM videos)",
    "WITH t AS (SELECT (SELECT count(*) FROM users) AS n) SELECT n FROM t",
    "SELECT n FROM (SELECT (SELECT count(*) FROM users) AS n) AS t",
    "SELECT (SELECT (SELECT count(*) FROM users)) AS n",
    "SELECT (SELECT count(*) FROM users WHERE user_id IN (SELECT author_id FROM videos)) AS n",
    "SELECT CASE WHEN (SELECT count(*) FROM users) > 3 THEN 1 ELSE 0 END AS n",
    "SELECT (SELECT count(*) FROM users) IN (1, 2) AS e",
    "SELECT 1 IN (SELECT count(*) FROM users) AS e",
    "SELECT EXISTS (SELECT 1 FROM users) AS e",
    "SELECT 1 AS x WHERE (SELECT count(*) FROM users) > 5",
    "SELECT count(*) AS c, (SELECT count(*) FROM users) AS n",
]


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
@pytest.mark.parametrize("sql", SHAPES)
def test_every_scalar_subquery_shape_is_a_decision(dataset: Path, sql: str, u18: bool) -> None:
    res = run_checked(sql, Context(policy=POLICY, u18_approved=u18), [dataset])
    assert res.allowed or (res.reasons and res.table is None)
    assert all(getattr(r, "rule", None) != "internal-error" for r in res.reasons), res.reasons


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_scalar_count_without_from_is_released_rounded(dataset: Path, u18: bool) -> None:
    res = run_checked(
        "SELECT (SELECT count(*) FROM users) AS n", Context(POLICY, u18_approved=u18), [dataset]
    )
    truth = plain_connection(dataset, u18).execute("SELECT count(*) FROM users").fetchone()[0]
    assert res.allowed and res.table.to_pylist() == [{"n": round_to(truth, BASE)}]


def test_scalar_count_of_a_small_group_without_from_is_suppressed(dataset: Path) -> None:
    plain = plain_connection(dataset, False)
    (small,) = plain.execute(
        "SELECT follower_count FROM users ORDER BY follower_count DESC LIMIT 1 OFFSET 2"
    ).fetchone()
    sql = f"SELECT (SELECT count(*) FROM users WHERE follower_count >= {small}) AS n"
    res = run_checked(sql, Context(POLICY), [dataset])
    assert res.allowed and res.table.num_rows == 0 and res.suppressed_rows == 1
