"""``vce audit verify`` / ``vce audit export`` / ``vce airlock db upgrade`` on a real history."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from airlock_hub import who
from click.testing import CliRunner

from vce.airlock import projects
from vce.airlock.cli import airlock as airlock_cli
from vce.airlock.cli import audit as audit_cli
from vce.airlock.config import Settings
from vce.airlock.workflow import Airlock

SQL = "SELECT region_code, count(*) AS videos FROM videos GROUP BY region_code"


def vce(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from vce.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def history(tmp_path: Path, dataset: Path) -> str:
    """A SQLite store with a real history: projects, requests, checks, votes, a release."""
    url = f"sqlite:///{tmp_path / 'airlock.sqlite'}"
    a = Airlock(
        Settings(
            state_dir=tmp_path,
            db_url=url,
            releases_dir=tmp_path / "rel",
            datasets={"demo": dataset},
        )
    )
    with a.db.session() as s:
        projects.create(s, "boss", "p1", "Climate talk", "alice")
        projects.grant(s, "boss", "p1", "demo")
    ok = a.submit(
        who("alice"), {"kind": "query", "project": "p1", "name": "r", "purpose": "p", "sql": SQL}
    )["id"]
    bad = a.submit(
        who("alice"),
        {
            "kind": "query",
            "project": "p1",
            "name": "b",
            "purpose": "p",
            "sql": "SELECT username FROM users",
        },
    )["id"]
    a.process(ok)
    a.process(bad)
    a.vote(who("rev1"), ok, "approve")
    a.vote(who("rev2"), ok, "approve")
    a.release(ok)
    a.release_file(who("alice"), ok, "result.csv")
    a.db.dispose()
    return url


def test_verify_passes_on_real_history_and_export_writes_every_record(
    history: str, tmp_path: Path
) -> None:
    ok = vce("audit", "verify", "--db", history)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    out = tmp_path / "audit.jsonl"
    assert vce("audit", "export", "--db", history, "--out", str(out)).returncode == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    actions = {x["action"] for x in lines}
    assert {
        "request.submit",
        "request.check",
        "request.vote",
        "request.release",
        "release.download",
    } <= actions
    assert all(x["hash"] and x["prev_hash"] for x in lines)


def test_verify_fails_after_any_single_record_is_altered(history: str) -> None:
    db = history.removeprefix("sqlite:///")
    con = sqlite3.connect(db)
    seqs = [r[0] for r in con.execute("SELECT seq FROM audit_records ORDER BY seq")]
    assert len(seqs) > 10
    runner = CliRunner()
    for seq in seqs:
        for column in ("payload", "actor", "created"):
            (orig,) = con.execute(
                f"SELECT {column} FROM audit_records WHERE seq=?", (seq,)
            ).fetchone()
            con.execute(f"UPDATE audit_records SET {column}=? WHERE seq=?", (orig + "x", seq))
            con.commit()
            res = runner.invoke(audit_cli, ["verify", "--db", history])
            assert res.exit_code == 1, (seq, column)
            assert f"record {seq}" in res.output
            con.execute(f"UPDATE audit_records SET {column}=? WHERE seq=?", (orig, seq))
            con.commit()
    assert runner.invoke(audit_cli, ["verify", "--db", history]).exit_code == 0
    con.execute("UPDATE audit_records SET payload='{}' WHERE seq=?", (seqs[3],))
    con.commit()
    con.close()
    broken = vce("audit", "verify", "--db", history)  # the real command line too
    assert broken.returncode == 1
    assert f"record {seqs[3]}" in broken.stderr


def test_db_upgrade_creates_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    res = CliRunner().invoke(airlock_cli, ["db", "upgrade", "--db", url])
    assert res.exit_code == 0, res.output
    con = sqlite3.connect(tmp_path / "new.sqlite")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "projects",
        "memberships",
        "dataset_grants",
        "requests",
        "votes",
        "comments",
        "events",
        "releases",
        "audit_records",
        "alembic_version",
    } <= tables
