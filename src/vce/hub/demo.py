"""Demo provisioning for ``make run``: four accounts and one project, created once.

Passwords are generated, printed once and stored only as bcrypt hashes; running this again
leaves existing accounts and the project alone (idempotent).
"""

from __future__ import annotations

import argparse
import sys

from vce.hub.accounts import ensure_account
from vce.hub.config import ConfigError, Settings, load_settings

ADMIN = "admin"
RESEARCHER = "researcher"
REVIEWERS = ("reviewer1", "reviewer2")
PROJECT = "demo-study"
DATASET = "demo"


def provision(settings: Settings) -> dict[str, str | None]:
    """Create the demo accounts and project; return username → new password (None: existed)."""
    from vce.airlock import projects
    from vce.airlock.db import Database
    from vce.airlock.errors import NotFound

    hub_db = settings.state_dir / "jupyterhub.sqlite"
    passwords = {u: ensure_account(hub_db, u) for u in (ADMIN, RESEARCHER, *REVIEWERS)}
    db = Database(settings.airlock_database_url)
    try:
        with db.session() as s:
            try:
                projects.get(s, PROJECT)
            except NotFound:
                projects.create(s, "make-run", PROJECT, "Demo study: videos by region", RESEARCHER)
                projects.grant(s, "make-run", PROJECT, DATASET)
                projects.approve_u18(s, "make-run", PROJECT)
    finally:
        db.dispose()
    return passwords


def main(argv: list[str] | None = None) -> int:
    """Provision, sync the hub, and print what to open."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    passwords = provision(settings)
    from vce.hub.cli import sync_hub

    sync_hub(settings, quiet=True)
    url = settings.public_url
    print()
    print(f"VCE is running: open {url}")
    print(f"  researchers: log in, then open the project server {url}user/{RESEARCHER}/{PROJECT}/")
    print(f"  reviewers and administrators: the airlock at {settings.airlock_public_url}")
    print(f"  administrators approve sign-ups at {url}hub/authorize")
    print()
    print("Demo accounts (passwords are shown only now; only their hashes are stored):")
    roles = {ADMIN: "administrator", RESEARCHER: "researcher"} | dict.fromkeys(
        REVIEWERS, "reviewer"
    )
    for user, pw in passwords.items():
        shown = pw if pw else "(exists already; its password was printed by the first make run)"
        print(f"  {roles[user]:<14} {user:<11} {shown}")
    print()
    print(f"Projects: vce project list   (demo project {PROJECT!r}, dataset {DATASET!r})")
    print(f"Logs: {settings.state_dir / 'hub.log'}     Stop everything: make stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
