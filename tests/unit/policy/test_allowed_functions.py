"""Every function the default policy allows exists in DuckDB: a researcher told to use one
(``width_bucket`` was recommended for binning, and DuckDB has no such function) must be able
to run it."""

from __future__ import annotations

import duckdb

from vce.policy.analyze import rules_of
from vce.policy.model import load_policy

SYNTAX = {"case", "cast", "try_cast", "if", "ifnull", "coalesce", "extract"}
"""Allowed names that are SQL syntax rather than catalogue functions (each checked below)."""


def test_every_allowed_function_is_one_duckdb_has() -> None:
    policy = load_policy()
    catalogue = {
        r[0] for r in duckdb.sql("SELECT function_name FROM duckdb_functions()").fetchall()
    }
    missing = (policy.scalar_functions | policy.aggregate_functions) - catalogue - SYNTAX
    assert not missing, f"allowed but unknown to DuckDB: {sorted(missing)}"
    for sql in (
        "SELECT CASE WHEN 1 > 0 THEN 1 END, CAST(1 AS BIGINT), TRY_CAST('x' AS INT)",
        "SELECT if(true, 1, 2), ifnull(NULL, 2), coalesce(NULL, 3), extract(year FROM now())",
    ):
        duckdb.sql(sql).fetchall()


def test_the_binning_the_measure_rule_suggests_is_allowed_and_runs() -> None:
    from vce.policy.analyze import analyze_default

    message = analyze_default("SELECT follower_count, count(*) AS n FROM users GROUP BY 1")
    (violation,) = [v for v in message.violations if v.rule == "measure-group-by"]
    assert "width_bucket" not in violation.message
    for suggestion in ("floor(follower_count / 100)", "floor(log10(follower_count + 1))"):
        assert suggestion.replace("follower_count", "users.follower_count") in violation.message
        sql = f"SELECT {suggestion} AS b, count(*) AS n FROM users GROUP BY 1"
        assert rules_of(sql) == [], sql
        duckdb.sql(f"SELECT {suggestion} FROM (SELECT 12345 AS follower_count)").fetchall()
