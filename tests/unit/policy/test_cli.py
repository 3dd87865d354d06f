"""`vce check` as other tools call it: exit codes and the JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vce.cli import main


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args], input=stdin)
    return result.exit_code, result.output


def test_allowed_exits_zero() -> None:
    code, out = _run("SELECT region_code, count(*) FROM videos GROUP BY 1")
    assert code == 0 and out.startswith("allowed")


def test_denied_exits_one_with_json_violations() -> None:
    code, out = _run("--json", "SELECT username FROM users")
    assert code == 1
    report = json.loads(out)
    assert report["allowed"] is False
    assert {"identifier-output", "row-level-output"} <= {v["rule"] for v in report["violations"]}
    assert all(set(v) == {"rule", "message", "line", "column"} for v in report["violations"])


def test_unusable_sql_exits_two() -> None:
    code, out = _run("--json", "SELEC 1 FROM")
    assert code == 2 and json.loads(out)["violations"][0]["rule"] == "parse"


def test_u18_flag_changes_the_decision() -> None:
    sql = "SELECT create_time, view_count FROM videos"
    assert _run(sql)[0] == 0
    code, out = _run("--u18", sql)
    assert code == 1 and "row-export-minors" in out


def test_sql_from_stdin_and_granted_tables() -> None:
    code, out = _run("--tables", "videos", "-", stdin="SELECT count(*) FROM comments")
    assert code == 1 and "table-not-granted" in out


def test_bad_policy_file_exits_two(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("tables: {t: {columns: {a: nope}}}\n", encoding="utf-8")
    code, out = _run("--policy", str(bad), "SELECT 1")
    assert code == 2 and f"{bad}:1:" in out


def test_execute_needs_a_dataset_directory(tmp_path: Path) -> None:
    sql = "SELECT region_code, count(*) FROM videos GROUP BY 1"
    assert _run("--execute", sql)[0] == 2
    assert _run("--execute", "--data", str(tmp_path / "missing"), sql)[0] == 2


def test_execute_denied_statically_runs_nothing(tmp_path: Path) -> None:
    code, out = _run("--execute", "--json", "--data", str(tmp_path), "SELECT * FROM users")
    report = json.loads(out)
    assert code == 1 and report["state"] == "denied" and report["allowed"] is False
    code, out = _run(
        "--execute", "--reviewer", "--json", "--data", str(tmp_path), "SELECT * FROM users"
    )
    report = json.loads(out)
    assert code == 1 and report["rows"] == [] and report["allowed"] is False
