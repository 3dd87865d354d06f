"""Keep the hub in line with the project registry: stop revoked servers, mirror projects as groups.

Runs as a JupyterHub managed service (``python -m vce.hub.reconciler``) every
``hub.revocation_interval`` seconds, and once right after each ``vce project`` change, so that
expiring a project, removing a member or revoking a dataset stops the affected servers within a
minute. The spawner re-checks the registry at every start, so a revocation also applies to the
next spawn even when the hub was down.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vce.hub.access import STATE_DATASETS, Registry, still_allowed
from vce.hub.hubapi import HubAPI, HubAPIError

log = logging.getLogger("vce.hub.reconciler")
GROUP_PREFIX = "project-"
ACTOR = "vce-reconciler"

AuditSink = Callable[[str, str, str, dict[str, Any]], None]


@dataclass
class Outcome:
    """What one pass did."""

    stopped: list[tuple[str, str, str]] = field(default_factory=list)  # user, server, reason
    groups_changed: list[str] = field(default_factory=list)


def group_name(slug: str) -> str:
    """Name the JupyterHub group mirroring a project's members."""
    return f"{GROUP_PREFIX}{slug}"


class Reconciler:
    """One pass = :meth:`stop_revoked` + :meth:`sync_groups`."""

    def __init__(self, hub: HubAPI, registry: Registry, audit: AuditSink | None = None) -> None:
        """``audit(actor, action, subject, payload)`` records each stop (airlock's audit log)."""
        self.hub = hub
        self.registry = registry
        self.audit = audit

    def run_once(self) -> Outcome:
        """Stop what must stop, then mirror groups."""
        outcome = Outcome()
        users = self.hub.users()
        self.stop_revoked(users, outcome)
        self.sync_groups({u["name"] for u in users}, outcome)
        return outcome

    def stop_revoked(self, users: list[dict[str, Any]], outcome: Outcome) -> None:
        """Stop every running (or starting) server whose owner lost access to its data."""
        for user in users:
            for name, server in (user.get("servers") or {}).items():
                if server.get("pending") == "stop":  # stopping already: one stop, one record
                    continue
                if not (server.get("ready") or server.get("pending") == "spawn"):
                    continue
                mounted = (server.get("state") or {}).get(STATE_DATASETS, [])
                reason = still_allowed(self.registry, user["name"], name, mounted)
                if not reason:
                    continue
                try:
                    self.hub.stop_server(user["name"], name)
                except HubAPIError as exc:
                    if exc.status not in (400, 404):
                        raise
                    # still spawning, or gone already: the next pass looks again
                    log.info("could not stop %s/%s yet: %s", user["name"], name, exc)
                    continue
                log.info("stopped %s/%s: %s", user["name"], name, reason)
                outcome.stopped.append((user["name"], name, reason))
                if self.audit is not None:
                    self.audit(ACTOR, "server.stop", f"{name}/{user['name']}", {"reason": reason})

    def sync_groups(self, hub_users: set[str], outcome: Outcome) -> None:
        """Make group ``project-<slug>`` hold exactly the members the hub knows about."""
        existing = self.hub.groups()
        for view in self.registry.projects():
            gname = group_name(view.slug)
            want = set(view.members) & hub_users if view.active() else set()
            have = existing.get(gname)
            if have is None:
                self.hub.call("POST", f"groups/{gname}", {"users": sorted(want)})
                outcome.groups_changed.append(gname)
                continue
            add, remove = sorted(want - have), sorted(have - want)
            if add:
                self.hub.call("POST", f"groups/{gname}/users", {"users": add})
            if remove:
                self.hub.call("DELETE", f"groups/{gname}/users", {"users": remove})
            if add or remove:
                outcome.groups_changed.append(gname)


def audit_sink(registry: Any) -> AuditSink | None:
    """Return an audit writer on the registry's database, when it has one (the airlock's)."""
    db = getattr(registry, "db", None)
    if db is None:
        return None

    def write(actor: str, action: str, subject: str, payload: dict[str, Any]) -> None:
        from vce.airlock import audit

        with db.session() as s:
            audit.append(s, actor, action, subject, payload)

    return write


def main(argv: list[str] | None = None) -> int:
    """Service entry point: loop forever (or once with ``--once``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=20.0)
    parser.add_argument("--registry-url", required=True)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s %(name)s] %(message)s")
    from vce.hub.registry import AirlockRegistry

    api_url = os.environ["JUPYTERHUB_API_URL"].removesuffix("/").removesuffix("/hub/api")
    hub = HubAPI(api_url, os.environ["JUPYTERHUB_API_TOKEN"])
    registry = AirlockRegistry(args.registry_url)
    reconciler = Reconciler(hub, registry, audit_sink(registry))
    while True:
        try:
            outcome = reconciler.run_once()
            if outcome.stopped or outcome.groups_changed:
                log.info("stopped %s; groups changed %s", outcome.stopped, outcome.groups_changed)
        except Exception:  # keep the service alive; the next pass retries
            log.exception("reconcile pass failed")
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
