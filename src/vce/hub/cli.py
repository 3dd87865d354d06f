"""``vce project …``: the administrator's project commands.

They change the airlock's registry through :mod:`vce.airlock.projects` (which audits every
change), then — when the hub is running — run one reconciler pass so that JupyterHub's groups
follow at once and servers that lost access stop now rather than at the next periodic pass.

Exit codes: 0 done, 1 refused (conflict, not found), 2 unusable input.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from vce.hub.config import ConfigError, Settings, load_settings


def _actor() -> str:
    """Who runs the command, for the audit log (the sudo caller when there is one)."""
    return os.environ.get("VCE_ACTOR") or os.environ.get("SUDO_USER") or getpass.getuser()


@contextmanager
def _session(settings: Settings) -> Iterator[Any]:
    from vce.airlock.db import Database
    from vce.airlock.errors import AirlockError

    db = Database(settings.airlock_database_url)
    try:
        with db.session() as s:
            yield s
    except AirlockError as exc:
        code = 2 if exc.status == 400 else 1
        raise click.exceptions.Exit(_fail(exc.message, code)) from None
    finally:
        db.dispose()


def _fail(message: str, code: int) -> int:
    click.echo(f"error: {message}", err=True)
    return code


def sync_hub(settings: Settings, quiet: bool = False) -> bool:
    """One reconciler pass against the running hub; ``False`` when the hub is not running."""
    from vce.hub.app import RECONCILER_TOKEN_FILE
    from vce.hub.hubapi import HubAPI, HubAPIError
    from vce.hub.reconciler import Reconciler, audit_sink
    from vce.hub.registry import AirlockRegistry

    token_file = settings.state_dir / RECONCILER_TOKEN_FILE
    if not token_file.is_file():
        return False
    hub = HubAPI(settings.hub_api_url, token_file.read_text().strip(), timeout=5)
    if not hub.reachable():
        return False
    registry = AirlockRegistry(settings.airlock_database_url)
    try:
        outcome = Reconciler(hub, registry, audit_sink(registry)).run_once()
    except HubAPIError as exc:
        click.echo(f"warning: hub sync failed ({exc}); the reconciler retries", err=True)
        return False
    finally:
        registry.close()
    if not quiet:
        for user, server, reason in outcome.stopped:
            click.echo(f"stopped {user}/{server}: {reason}")
    return True


def _mutate(ctx: click.Context, change: Callable[[Any, str], Any]) -> None:
    settings: Settings = ctx.obj
    with _session(settings) as s:
        project = change(s, _actor())
        from vce.airlock.projects import to_dict

        shown = to_dict(project)
    _print_project(shown)
    if not sync_hub(settings):
        click.echo("(hub not running: the change applies at the next spawn and hub start)")


def _print_project(p: dict[str, Any]) -> None:
    click.echo(
        f"{p['slug']}: {p['title']}\n"
        f"  status:   {p['status']}"
        + (f" (expires {p['expires_at']})" if p["expires_at"] else "")
        + f"\n  PI:       {p['pi']}\n"
        f"  members:  {', '.join(p['members']) or '-'}\n"
        f"  datasets: {', '.join(p['datasets']) or '-'}\n"
        f"  U18:      {'approved' if p['u18_approved'] else 'not approved'}"
    )


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Deployment file (default $VCE_CONFIG or ./vce.toml).",
)
@click.pass_context
def project(ctx: click.Context, config_path: str | None) -> None:
    """Create and administer research projects (members, datasets, U18 approval, expiry)."""
    try:
        ctx.obj = load_settings(config_path)
    except ConfigError as exc:
        raise click.exceptions.Exit(_fail(str(exc), 2)) from None


@project.command()
@click.argument("slug")
@click.option("--title", required=True, help="What the project studies.")
@click.option("--pi", required=True, help="Username of the principal investigator (a member).")
@click.option(
    "--expires",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Last day (UTC) of the project, YYYY-MM-DD.",
)
@click.pass_context
def create(ctx: click.Context, slug: str, title: str, pi: str, expires: dt.datetime | None) -> None:
    """Register project SLUG with its principal investigator as first member."""
    from vce.airlock import projects

    until = expires.replace(tzinfo=dt.UTC) + dt.timedelta(days=1) if expires else None
    _mutate(ctx, lambda s, actor: projects.create(s, actor, slug, title, pi, until))


@project.command(name="add-member")
@click.argument("slug")
@click.argument("username")
@click.pass_context
def add_member(ctx: click.Context, slug: str, username: str) -> None:
    """Add USERNAME to project SLUG (at most 10 members)."""
    from vce.airlock import projects

    _mutate(ctx, lambda s, actor: projects.add_member(s, actor, slug, username))


@project.command(name="remove-member")
@click.argument("slug")
@click.argument("username")
@click.pass_context
def remove_member(ctx: click.Context, slug: str, username: str) -> None:
    """Remove USERNAME from SLUG; their running project server stops."""
    from vce.airlock import projects

    _mutate(ctx, lambda s, actor: projects.remove_member(s, actor, slug, username))


@project.command()
@click.argument("slug")
@click.argument("dataset")
@click.pass_context
def grant(ctx: click.Context, slug: str, dataset: str) -> None:
    """Let SLUG query DATASET (mounted at the next start of its servers)."""
    from vce.airlock import projects

    settings: Settings = ctx.obj
    folder = settings.path("data", "root") / dataset
    if not (folder / "manifest.json").is_file():
        raise click.exceptions.Exit(
            _fail(
                f"no dataset {dataset!r} under {folder.parent} (data.root); "
                "generate it with `vce datasets generate` or copy it there first",
                2,
            )
        )
    _mutate(ctx, lambda s, actor: projects.grant(s, actor, slug, dataset))


@project.command()
@click.argument("slug")
@click.argument("dataset")
@click.pass_context
def revoke(ctx: click.Context, slug: str, dataset: str) -> None:
    """Withdraw DATASET from SLUG; servers that mount it stop."""
    from vce.airlock import projects

    _mutate(ctx, lambda s, actor: projects.revoke(s, actor, slug, dataset))


@project.command(name="approve-u18")
@click.argument("slug")
@click.option("--withdraw", is_flag=True, help="Withdraw an earlier approval.")
@click.pass_context
def approve_u18(ctx: click.Context, slug: str, withdraw: bool) -> None:
    """Approve SLUG for data about under-18s (synthetic rows in sandboxes, real in the airlock)."""
    from vce.airlock import projects

    _mutate(ctx, lambda s, actor: projects.approve_u18(s, actor, slug, not withdraw))


@project.command()
@click.argument("slug")
@click.pass_context
def expire(ctx: click.Context, slug: str) -> None:
    """End SLUG now: its servers stop and cannot start again."""
    from vce.airlock import projects

    _mutate(ctx, lambda s, actor: projects.expire(s, actor, slug))


@project.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show one project."""
    from vce.airlock import projects

    with _session(ctx.obj) as s:
        p = projects.show(s, slug)
    if as_json:
        click.echo(json.dumps(p, indent=2))
    else:
        _print_project(p)


@project.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List every project."""
    from vce.airlock import projects

    with _session(ctx.obj) as s:
        items = [projects.to_dict(p) for p in projects.list_projects(s)]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo("no projects yet: vce project create SLUG --title … --pi USER")
    for p in items:
        click.echo(
            f"{p['slug']:<24} {p['status']:<8} {len(p['members']):>2} members  "
            f"{','.join(p['datasets']) or '-':<20} U18={'yes' if p['u18_approved'] else 'no'}"
        )


@project.command()
@click.pass_context
def sync(ctx: click.Context) -> None:
    """Run one reconciler pass now (groups, revoked servers)."""
    if not sync_hub(ctx.obj):
        raise click.exceptions.Exit(_fail("the hub is not running (make run)", 1))
    click.echo("hub in sync with the project registry")
