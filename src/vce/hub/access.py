"""Who may open which project server, and with which data — decided from the project registry.

The registry itself (projects, members, grants) belongs to the airlock and lives in its
database; the hub only reads it through the small :class:`Registry` protocol so that the spawner,
the reconciler and the tests share one decision function, :func:`decide`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

STATE_DATASETS = "vce_datasets"
"""Spawner-state key: datasets mounted in a running server (read by the reconciler)."""
STATE_U18 = "vce_u18"


@dataclass(frozen=True)
class ProjectView:
    """What the hub needs to know about one project."""

    slug: str
    status: str
    members: frozenset[str]
    datasets: tuple[str, ...]
    u18_approved: bool
    expires: dt.datetime | None = None

    def active(self, now: dt.datetime | None = None) -> bool:
        """Active status and not past its expiry."""
        now = now or dt.datetime.now(dt.UTC)
        if self.status != "active":
            return False
        if self.expires is None:
            return True
        expires = self.expires if self.expires.tzinfo else self.expires.replace(tzinfo=dt.UTC)
        return now < expires


@dataclass(frozen=True)
class SpawnGrant:
    """What a sandbox for ``username`` × ``project`` may see."""

    project: str
    username: str
    datasets: tuple[str, ...]
    u18_approved: bool


class AccessDenied(PermissionError):
    """The user may not open this project's server; the message says why (shown to the user)."""


class Registry(Protocol):
    """Read access to the project registry."""

    def project(self, slug: str) -> ProjectView | None:
        """Return the project, or ``None`` when there is none with that slug."""
        ...

    def projects(self) -> Iterable[ProjectView]:
        """Every project, active or not."""
        ...


def decide(registry: Registry, username: str, project: str) -> SpawnGrant:
    """Return the grant for ``username`` opening ``project``; raise :class:`AccessDenied` if none.

    >>> class R:
    ...     def project(self, slug):
    ...         return ProjectView("p1", "active", frozenset({"ada"}), ("tiktok",), False)
    >>> decide(R(), "ada", "p1").datasets
    ('tiktok',)
    >>> decide(R(), "bob", "p1")
    Traceback (most recent call last):
    ...
    vce.hub.access.AccessDenied: bob is not a member of project 'p1'
    """
    if not project:
        raise AccessDenied(
            "open a project server (/user/<name>/<project>/); the default server is disabled"
        )
    view = registry.project(project)
    if view is None:
        raise AccessDenied(f"there is no project {project!r}")
    if username not in view.members:
        raise AccessDenied(f"{username} is not a member of project {project!r}")
    if not view.active():
        raise AccessDenied(f"project {project!r} is not active (status {view.status})")
    return SpawnGrant(
        project=view.slug,
        username=username,
        datasets=tuple(sorted(view.datasets)),
        u18_approved=view.u18_approved,
    )


def still_allowed(registry: Registry, username: str, project: str, mounted: Iterable[str]) -> str:
    """Why a running server must stop now, or ``""`` when it may keep running.

    A server must stop when its owner lost access or when it has a dataset mounted that the
    project no longer holds (a grant added later is no reason to stop).
    """
    try:
        grant = decide(registry, username, project)
    except AccessDenied as exc:
        return str(exc)
    revoked = sorted(set(mounted) - set(grant.datasets))
    if revoked:
        return f"dataset(s) {', '.join(revoked)} revoked from project {project!r}"
    return ""
