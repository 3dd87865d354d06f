"""``vce check``: the policy decision for one query, for people and for other tools.

Exit codes are a contract: 0 allowed, 1 denied, 2 unusable input (unreadable policy, SQL that
does not parse, is too large or too deeply nested, a missing dataset directory).

With ``--execute`` the output and the exit code are what a *researcher* would be told of an
export request (:mod:`vce.airlock.projection`): denied with the rules, or submitted — nothing
the trusted run computes on the full data, which can include real minors' rows. ``--reviewer``
runs it and adds what reviewers see: released rows, suppression, checks, engine errors; then
0 means something was released and 1 denied or everything suppressed.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from vce.policy.analyze import analyze
from vce.policy.context import Context
from vce.policy.loading import PolicyError
from vce.policy.model import load_policy
from vce.policy.violations import Decision

UNUSABLE_INPUT_RULES = frozenset({"parse", "too-large", "too-deep", "single-statement"})
"""Violations that mean "this is not a query we can judge" (exit 2) rather than "denied"."""


def _read_sql(sql: str) -> str:
    if sql == "-":
        return sys.stdin.read()
    if sql.startswith("@"):
        return Path(sql[1:]).read_text(encoding="utf-8")
    return sql


def _exit_code(decision: Decision) -> int:
    if decision.allowed:
        return 0
    if decision.rules and decision.rules <= UNUSABLE_INPUT_RULES:
        return 2
    return 1


def _print_decision(decision: Decision) -> None:
    click.echo("allowed" if decision.allowed else "denied")
    for v in decision.violations:
        click.echo(f"  {v}")


def _print_result(result: Any) -> None:
    report = result.to_dict()
    click.echo("released" if report["rows"] else "nothing released")
    for v in report["violations"]:
        where = f"{v['line']}:{v['column']} " if v.get("line") is not None else ""
        click.echo(f"  {where}{v['rule']}: {v['message']}")
    if report["rows"]:
        columns = list(report["rows"][0])
        click.echo("\t".join(columns))
        for row in report["rows"]:
            click.echo("\t".join(str(row[c]) for c in columns))
    click.echo(f"suppressed rows: {report['suppressed_rows']}")
    for check in report["checks"]:
        click.echo(f"  check {json.dumps(check, default=str)}")


def _researcher_told(decision: Decision, violations: list[Any]) -> dict[str, Any]:
    """What the airlock tells a researcher of this request before any reviewer acts.

    The same projection as the airlock's (``vce.airlock.projection``, which the policy package
    does not import): the static verdict only.
    """
    note = (
        "The static check refused it: revise it with the rules above."
        if violations
        else "Passed the static check; what the run on the full data found is for reviewers "
        "(--reviewer shows it)."
    )
    return {
        "allowed": not violations,
        "state": "denied" if violations else "submitted",
        "violations": [v.to_dict() for v in violations],
        "tables": decision.to_dict().get("tables", []),
        "note": note,
    }


def _run_with_history(
    text: str, ctx: Context, data_dirs: list[Path], timeout: float, path: Path, record: bool
) -> Any:
    """Run guarded by the release history at ``path``; record what left when asked."""
    import datetime as dt

    from vce.policy import guarded
    from vce.policy.releases import ReleaseStore, ReleaseStoreError

    try:
        store = ReleaseStore(path)
        run = guarded.run_guarded(text, ctx, data_dirs, [store], timeout_s=timeout)
        if record and run.result.allowed:
            ref = f"cli:{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}"
            guarded.record(store, run, ref=ref, project="cli", sql=text)
    except ReleaseStoreError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    return run.result


@click.command("check")
@click.argument("sql")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Policy YAML (default: the shipped policies/default.yaml).",
)
@click.option("--u18", is_flag=True, help="The project is approved for under-18 data.")
@click.option(
    "--tables", help="Comma-separated granted tables (default: every table of the policy)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option(
    "--execute",
    is_flag=True,
    help="Treat it as an export request: print what the researcher is told (see --reviewer).",
)
@click.option(
    "--data",
    "data_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset directory for --execute (repeatable).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds for --execute.")
@click.option(
    "--reviewer",
    is_flag=True,
    help="With --execute: run the query and print what reviewers see (rows, suppression, "
    "checks, engine errors), not only what the researcher is told.",
)
@click.option(
    "--releases",
    "releases",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --execute: a release-history store (the airlock's format, created if missing); "
    "cells that differ from an earlier release or from each other by fewer people than the "
    "threshold are withheld (rule differencing). Implies --reviewer.",
)
@click.option(
    "--record",
    is_flag=True,
    help="With --releases: record what this run released, as the airlock does on release.",
)
def check(
    sql: str,
    policy_file: Path | None,
    u18: bool,
    tables: str | None,
    as_json: bool,
    execute: bool,
    data_dirs: tuple[Path, ...],
    timeout: float,
    reviewer: bool,
    releases: Path | None,
    record: bool,
) -> None:
    """Check SQL against the policy: exit 0 allowed, 1 denied, 2 unusable input.

    SQL is the query text, '-' to read it from stdin, or @FILE.
    """
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # parser fallbacks are our violations
    try:
        text = _read_sql(sql)
        policy = load_policy(policy_file)
    except (OSError, PolicyError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    granted = (
        None if tables is None else frozenset(t.strip() for t in tables.split(",") if t.strip())
    )
    ctx = Context(policy=policy, tables=granted, u18_approved=u18)
    decision = analyze(text, ctx)
    if not execute:
        if as_json:
            click.echo(json.dumps(decision.to_dict(), indent=2))
        else:
            _print_decision(decision)
        sys.exit(_exit_code(decision))
    if not data_dirs:
        click.echo("error: --execute needs --data DIR (a dataset directory)", err=True)
        sys.exit(2)
    missing = [str(d) for d in data_dirs if not d.is_dir()]
    if missing:
        click.echo(f"error: dataset directory not found: {', '.join(missing)}", err=True)
        sys.exit(2)
    from vce.policy.execute import run_checked, static_check

    if record and releases is None:
        click.echo("error: --record needs --releases FILE", err=True)
        sys.exit(2)
    reviewer = reviewer or releases is not None  # the history is trusted-side data
    if not reviewer:
        _, _, violations = static_check(text, ctx)
        told = _researcher_told(decision, violations)
        if as_json:
            click.echo(json.dumps(told, indent=2))
        else:
            click.echo(told["state"])
            for v in violations:
                click.echo(f"  {v}")
            click.echo(f"  {told['note']}")
        sys.exit(_exit_code(decision) if not decision.allowed else 0 if told["allowed"] else 1)
    if not decision.allowed:
        if as_json:
            report = decision.to_dict() | {"rows": [], "suppressed_rows": 0, "checks": []}
            click.echo(json.dumps(report, indent=2))
        else:
            _print_decision(decision)
        sys.exit(_exit_code(decision))
    if releases is not None:
        result = _run_with_history(text, ctx, list(data_dirs), timeout, releases, record)
    else:
        result = run_checked(text, ctx, list(data_dirs), timeout_s=timeout)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_result(result)
    sys.exit(0 if result.allowed and result.releases_something else 1)
