"""`vce project` against a real airlock database (SQLite): exit codes, output and audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vce.airlock import audit
from vce.airlock.db import Database
from vce.cli import main


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "datasets" / "demo").mkdir(parents=True)
    (tmp_path / "datasets" / "demo" / "manifest.json").write_text("{}")
    config = tmp_path / "vce.toml"
    config.write_text('[hub]\nstate_dir = "var"\n[data]\nroot = "datasets"\n')
    return {"VCE_CONFIG": str(config), "VCE_ACTOR": "root-admin"}


def vce(env: dict[str, str], *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["project", *args], env=env)
    return r.exit_code, r.output


def test_lifecycle_with_exit_codes_and_audit(env: dict[str, str], tmp_path: Path) -> None:
    assert (
        vce(env, "create", "flu", "--title", "Flu", "--pi", "ada", "--expires", "2099-12-31")[0]
        == 0
    )
    assert vce(env, "add-member", "flu", "bob")[0] == 0
    assert vce(env, "grant", "flu", "demo")[0] == 0
    assert vce(env, "approve-u18", "flu")[0] == 0
    code, out = vce(env, "show", "flu", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["members"] == ["ada", "bob"] and shown["datasets"] == ["demo"]
    assert shown["u18_approved"] is True and shown["expires_at"].startswith("2100-01-01")
    assert "hub not running" in vce(env, "remove-member", "flu", "bob")[1]
    assert vce(env, "revoke", "flu", "demo")[0] == 0
    assert vce(env, "expire", "flu")[0] == 0
    code, out = vce(env, "list")
    assert code == 0 and "flu" in out and "expired" in out

    db = Database(f"sqlite:///{tmp_path / 'var' / 'airlock.sqlite'}")
    with db.session() as s:
        assert audit.verify(s).ok
        records = [json.loads(line) for line in audit.export(s)]
    actions = [r["action"] for r in records]
    assert actions == [
        "project.create",
        "project.add_member",
        "project.grant",
        "project.approve_u18",
        "project.remove_member",
        "project.revoke",
        "project.expire",
    ]
    assert {r["actor"] for r in records} == {"root-admin"}


def test_refusals_exit_1_and_bad_input_exits_2(env: dict[str, str]) -> None:
    assert vce(env, "create", "p1", "--title", "T", "--pi", "ada")[0] == 0
    code, out = vce(env, "create", "p1", "--title", "T", "--pi", "ada")
    assert code == 1 and "exists already" in out
    assert vce(env, "show", "nope")[0] == 1
    code, out = vce(env, "create", "Bad Slug", "--title", "T", "--pi", "ada")
    assert code == 2 and "invalid slug" in out
    code, out = vce(env, "grant", "p1", "missing")
    assert code == 2 and "no dataset 'missing'" in out
    for i in range(9):
        assert vce(env, "add-member", "p1", f"m{i}")[0] == 0
    code, out = vce(env, "add-member", "p1", "eleventh")
    assert code == 1 and "10 members" in out


def test_invalid_deployment_file_names_the_fix(env: dict[str, str], tmp_path: Path) -> None:
    Path(env["VCE_CONFIG"]).write_text('[sandbox]\npids_limit = "many"\n')
    code, out = vce(env, "list")
    assert code == 2 and "sandbox.pids_limit" in out and "Fix:" in out
