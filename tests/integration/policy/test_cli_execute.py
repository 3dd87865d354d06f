"""``vce check --execute``: the command other tools call, through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb

VCE = [sys.executable, "-c", "from vce.cli import main; main()"]


def vce_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VCE, "check", *args], capture_output=True, text=True, timeout=120)


def test_execute_json_releases_rows_and_reports_checks(dataset: Path) -> None:
    sql = "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code"
    proc = vce_check("--execute", "--reviewer", "--data", str(dataset), "--json", sql)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["allowed"] is True and report["violations"] == []
    assert report["rows"] and all(r["n"] % 5 == 0 for r in report["rows"])
    assert {c["name"] for c in report["checks"]} >= {"threshold", "u18_threshold", "rounding"}
    assert isinstance(report["suppressed_rows"], int)


def test_execute_exits_1_when_everything_is_suppressed(dataset: Path) -> None:
    sql = "SELECT count(*) AS n FROM videos WHERE audience = 'minor'"
    proc = vce_check("--execute", "--reviewer", "--data", str(dataset), "--json", sql)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["rows"] == [] and report["suppressed_rows"] == 1


def test_execute_u18_reads_minor_partitions(dataset: Path) -> None:
    sql = "SELECT age_band, count(*) AS n FROM users GROUP BY age_band"
    proc = vce_check("--execute", "--reviewer", "--u18", "--data", str(dataset), "--json", sql)
    assert proc.returncode == 0, proc.stderr
    bands = {r["age_band"] for r in json.loads(proc.stdout)["rows"]}
    assert {"13-15", "16-17"} <= bands


def test_execute_denied_query_never_runs(dataset: Path) -> None:
    proc = vce_check(
        "--execute", "--reviewer", "--data", str(dataset), "--json", "SELECT user_id FROM users"
    )
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["allowed"] is False and report["violations"] and report["rows"] == []


def test_execute_text_output_names_the_timeout(dataset: Path) -> None:
    sql = (
        "SELECT a.region_code, count(*) AS n FROM videos a JOIN videos b ON a.region_code = "
        "b.region_code JOIN videos c ON c.region_code = b.region_code GROUP BY a.region_code"
    )
    proc = vce_check("--execute", "--reviewer", "--data", str(dataset), "--timeout", "0.5", sql)
    assert proc.returncode == 1
    assert "timeout" in proc.stdout and "0.5 s" in proc.stdout


PROBE = "SELECT count(DISTINCT cast(username AS INTEGER)) AS n FROM users WHERE audience = 'minor'"


def test_execute_prints_what_the_researcher_is_told_and_reviewer_adds_the_rest(
    dataset: Path,
) -> None:
    """The engine's error quotes a real minor's username: only --reviewer may show it."""
    usernames = {
        r[0]
        for r in duckdb.sql(
            f"SELECT username FROM read_parquet('{dataset}/users/audience=minor/*.parquet')"
        ).fetchall()
    }
    told = vce_check("--execute", "--u18", "--data", str(dataset), "--json", PROBE)
    report = json.loads(told.stdout)
    assert set(report) == {"allowed", "state", "violations", "tables", "note"}
    assert not any(u in told.stdout for u in usernames)
    assert told.returncode == (0 if report["allowed"] else 1)
    if report["allowed"]:  # statically allowed: the engine fails, and only reviewers see why
        seen = vce_check(
            "--execute", "--reviewer", "--u18", "--data", str(dataset), "--json", PROBE
        )
        assert seen.returncode == 1 and json.loads(seen.stdout)["violations"]
