"""The airlock's project registry, read by the hub (spawner and reconciler).

The hub never writes the registry here; changes go through :mod:`vce.airlock.projects` (the
``vce project`` commands and the airlock's admin API), which audit every change.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

from vce.hub.access import ProjectView


def _view(d: dict) -> ProjectView:
    expires = d.get("expires_at")
    return ProjectView(
        slug=d["slug"],
        status=d["status"],
        members=frozenset(d["members"]),
        datasets=tuple(d["datasets"]),
        u18_approved=bool(d["u18_approved"]),
        expires=dt.datetime.fromisoformat(expires) if expires else None,
    )


class AirlockRegistry:
    """:class:`vce.hub.access.Registry` over the airlock database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        """Open (and, if needed, create or upgrade) the airlock database at ``url``."""
        from vce.airlock.db import Database

        if not url:
            raise ValueError("the project registry needs airlock.database_url (or its default)")
        self.db = Database(url)

    def project(self, slug: str) -> ProjectView | None:
        """Return the project ``slug`` as the registry sees it right now."""
        from vce.airlock import projects
        from vce.airlock.errors import NotFound

        with self.db.session() as s:
            try:
                return _view(projects.show(s, slug))
            except NotFound:
                return None

    def projects(self) -> Iterator[ProjectView]:
        """Every project."""
        from vce.airlock import projects

        with self.db.session() as s:
            views = [_view(projects.to_dict(p)) for p in projects.list_projects(s)]
        yield from views

    def close(self) -> None:
        """Release pooled connections."""
        self.db.dispose()


_SHARED: dict[str, AirlockRegistry] = {}
_LOCK = threading.Lock()


def shared_registry(url: str) -> AirlockRegistry:
    """One registry per database URL and process: the schema check runs once, not per spawn."""
    with _LOCK:
        if url not in _SHARED:
            _SHARED[url] = AirlockRegistry(url)
        return _SHARED[url]
