"""The hostile attack corpus (tests/corpus/attacks.yaml) against the real ``vce check``.

Each attack is run twice on the session's generated dataset:

* RAW, with plain DuckDB and no policy: the attacker's derive over the raw results must equal
  the secret, recomputed independently with plain DuckDB. This proves every attack is real,
  so a CHECKED pass means a defence stopped it, not that the attack was broken.
* CHECKED, every query in order through ``vce check --execute --reviewer --json`` (the click
  command itself, in process: the same code the ``vce`` binary runs, without a Python start
  per query), one project's release history per attack (``--releases FILE --record``) so
  later queries are compared with earlier releases. Denied queries release nothing,
  suppressed rows and withheld cells are absent; the derive must then *not* reconstruct the
  secret, and every query must get a decision (exit 0 or 1), never an exception.

``VCE_TEST_ATTACKS_REPORT=1`` prints a per-class table of leaks at the end (run with -n0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from policy_oracle import plain_connection

from corpus.load import WITHHELD, Attack, Query, Released, derive, jsonable, load_attacks
from corpus.load import reconstructed as attack_reconstructed
from vce.policy.cli import check
from vce.policy.model import load_policy

ATTACKS = load_attacks()
ROUNDING = load_policy().thresholds.rounding
SUPPORTS_RELEASES = any("--releases" in p.opts for p in check.params)
"""Whether this branch's CLI takes ``--releases`` (the differencing guard's contract)."""

LEAKS: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"leak": [], "held": []})


def _query(con: duckdb.DuckDBPyConnection) -> Query:
    def run(sql: str) -> list[dict[str, Any]]:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, (jsonable(v) for v in row), strict=True)) for row in cur.fetchall()]

    return run


@pytest.fixture(scope="module")
def plain(dataset: Path) -> Iterator[dict[bool, Query]]:
    """Plain DuckDB over what the trusted run reads: adults, or adults and real minors."""
    cons = {u18: plain_connection(dataset, u18) for u18 in (False, True)}
    yield {u18: _query(con) for u18, con in cons.items()}
    for con in cons.values():
        con.close()


@pytest.fixture(scope="module")
def targets(plain: dict[bool, Query]) -> dict[str, dict[str, Any]]:
    """Each target's variables, picked once per session (many attacks share a target)."""
    out: dict[str, dict[str, Any]] = {}
    for attack in ATTACKS:
        if attack.target.name not in out:
            out[attack.target.name] = attack.variables(plain[attack.u18])
    return out


@pytest.fixture(scope="module")
def leak_report(request: pytest.FixtureRequest) -> Iterator[dict[str, dict[str, list[str]]]]:
    yield LEAKS
    if os.environ.get("VCE_TEST_ATTACKS_REPORT") == "1" and LEAKS:
        lines = [f"{'class':<22} {'attacks':>7} {'leak':>5} {'held':>5}  leaking"]
        for cls in sorted(LEAKS):
            leak, held = LEAKS[cls]["leak"], LEAKS[cls]["held"]
            lines.append(
                f"{cls:<22} {len(leak) + len(held):>7} {len(leak):>5} {len(held):>5}  "
                + " ".join(sorted(leak))
            )
        total_leak = sum(len(v["leak"]) for v in LEAKS.values())
        total = sum(len(v["leak"]) + len(v["held"]) for v in LEAKS.values())
        lines.append(f"{'total':<22} {total:>7} {total_leak:>5} {total - total_leak:>5}")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():  # as capsys.disabled(): also without -s
            print("\n\nattack corpus, checked run:", *lines, sep="\n")


def _ids(attacks: list[Attack]) -> list[str]:
    return [a.id for a in attacks]


@pytest.mark.parametrize("attack", ATTACKS, ids=_ids(ATTACKS))
def test_raw_attack_reconstructs_the_secret(
    attack: Attack, plain: dict[bool, Query], targets: dict[str, dict[str, Any]]
) -> None:
    """Without the policy the attack works: it is a real attack on this data."""
    query = plain[attack.u18]
    variables = targets[attack.target.name]
    secret = attack.secret_value(query, variables)
    assert secret is not None and secret != [], "the target has the value the attack wants"
    released = {name: Released(query(sql)) for name, sql in attack.render(variables)}
    guess = derive(attack, released, variables)
    assert attack_reconstructed(attack, released, variables, secret, ROUNDING), (
        f"raw guess {guess!r} != secret {secret!r}"
    )


def checked_release(
    sql: str, data: Path, u18: bool, releases: Path
) -> tuple[Released, dict[str, Any]]:
    """What one export request releases, as ``vce check --execute --reviewer --json`` says."""
    args = ["--execute", "--reviewer", "--data", str(data), "--json"]
    if u18:
        args.append("--u18")
    if SUPPORTS_RELEASES:
        args += ["--releases", str(releases), "--record"]
    result = CliRunner().invoke(check, [*args, sql])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"no decision, an exception: {result.exception!r}\n{sql}")
    assert result.exit_code in (0, 1), f"exit {result.exit_code}: {result.stderr}\n{sql}"
    return released_from(json.loads(result.stdout)), json.loads(result.stdout)


def released_from(report: dict[str, Any]) -> Released:
    """The rows a report releases, withheld cells taken out."""
    rows = [dict(r) for r in report.get("rows") or []]
    for cell in report.get("withheld") or []:
        if 0 <= cell["row"] < len(rows):
            rows[cell["row"]][cell["column"]] = WITHHELD
    return Released(rows, denied=not report.get("allowed", False))


@pytest.mark.parametrize("attack", ATTACKS, ids=_ids(ATTACKS))
def test_checked_attack_does_not_reconstruct_the_secret(
    attack: Attack,
    dataset: Path,
    plain: dict[bool, Query],
    targets: dict[str, dict[str, Any]],
    tmp_path: Path,
    leak_report: dict[str, dict[str, list[str]]],
) -> None:
    """Through the real check, the attacker's combination of released values is not the secret."""
    query = plain[attack.u18]
    variables = targets[attack.target.name]
    secret = attack.secret_value(query, variables)
    releases = tmp_path / "releases"  # this attack's project: created by the first query
    released: dict[str, Released] = {}
    reports: dict[str, dict[str, Any]] = {}
    for name, sql in attack.render(variables):
        released[name], reports[name] = checked_release(sql, dataset, attack.u18, releases)
    leaked = attack_reconstructed(attack, released, variables, secret, ROUNDING)
    leak_report[attack.cls]["leak" if leaked else "held"].append(attack.id)
    if leaked:
        shown = {
            n: {k: r.get(k) for k in ("rows", "withheld", "violations")} for n, r in reports.items()
        }
        pytest.fail(
            f"{attack.cls}: the released values give the secret {secret!r} "
            f"(guess {derive(attack, released, variables)!r}); released: {json.dumps(shown, default=str)[:1500]}"
        )


VCE = [sys.executable, "-c", "from vce.cli import main; main()"]


def test_in_process_check_matches_the_vce_binary(dataset: Path, tmp_path: Path) -> None:
    """The in-process runs above are what the real ``vce check`` process prints."""
    attack = next(a for a in ATTACKS if a.id == "across-group-minus-one-u18")
    variables = attack.variables(_query(plain_connection(dataset, True)))
    for name, sql in attack.render(variables):
        _, in_process = checked_release(sql, dataset, True, tmp_path / "a")
        args = ["--execute", "--reviewer", "--data", str(dataset), "--json", "--u18"]
        if SUPPORTS_RELEASES:
            args += ["--releases", str(tmp_path / "b"), "--record"]
        proc = subprocess.run(
            [*VCE, "check", *args, sql], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode in (0, 1), proc.stderr
        assert json.loads(proc.stdout) == in_process, name
