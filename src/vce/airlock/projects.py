"""The project registry's business functions, shared by the airlock's admin API and ``vce project``.

Every change is written to the audit log in the same transaction. Functions take an open
session (``with db.session() as s``) and the acting user's name.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vce.airlock import audit
from vce.airlock.errors import Conflict, Invalid, NotFound
from vce.airlock.models import MAX_MEMBERS, DatasetGrant, Membership, Project, utcnow

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return t.replace(tzinfo=dt.UTC) if t is not None and t.tzinfo is None else t


def is_active(project: Project, now: dt.datetime | None = None) -> bool:
    """Active and not past its expiry date."""
    expires = _aware(project.expires_at)
    return project.status == "active" and (expires is None or expires > (now or utcnow()))


def get(session: Session, slug: str) -> Project:
    """Return the project with this slug, or raise :class:`NotFound`."""
    p = session.scalar(select(Project).where(Project.slug == slug))
    if p is None:
        raise NotFound(f"no project {slug!r}; `vce project list` shows the existing ones")
    return p


def to_dict(p: Project) -> dict[str, Any]:
    """Plain-data view of a project (API and CLI output)."""
    expires = _aware(p.expires_at)
    return {
        "slug": p.slug,
        "title": p.title,
        "pi": p.pi,
        "status": "active" if is_active(p) else "expired",
        "expires_at": expires.isoformat() if expires else None,
        "u18_approved": p.u18_approved,
        "members": [m.username for m in p.members],
        "datasets": [g.dataset for g in p.grants],
        "created": _aware(p.created).isoformat(),  # type: ignore[union-attr]
    }


def _check_name(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise Invalid(f"invalid {what} {value!r}: use letters, digits, '-', '.', '_' (max 100)")
    return value


def create(
    session: Session,
    actor: str,
    slug: str,
    title: str,
    pi: str,
    expires_at: dt.datetime | None = None,
) -> Project:
    """Register a project; its PI becomes its first member."""
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise Invalid(f"invalid slug {slug!r}: 2-63 lowercase letters, digits and '-'")
    _check_name(USERNAME, pi, "PI username")
    if not isinstance(title, str) or not title.strip() or len(title) > 300:
        raise Invalid("title must be 1-300 characters")
    if session.scalar(select(Project).where(Project.slug == slug)) is not None:
        raise Conflict(f"project {slug!r} exists already")
    p = Project(slug=slug, title=title.strip(), pi=pi, status="active", expires_at=expires_at)
    p.members.append(Membership(username=pi))
    session.add(p)
    session.flush()
    audit.append(session, actor, "project.create", slug, {"title": title, "pi": pi})
    return p


def add_member(session: Session, actor: str, slug: str, username: str) -> Project:
    """Add a member (at most :data:`~vce.airlock.models.MAX_MEMBERS`)."""
    p = get(session, slug)
    _check_name(USERNAME, username, "username")
    if any(m.username == username for m in p.members):
        raise Conflict(f"{username} is already a member of {slug}")
    if len(p.members) >= MAX_MEMBERS:
        raise Conflict(f"{slug} has {MAX_MEMBERS} members already; remove one first")
    p.members.append(Membership(username=username))
    audit.append(session, actor, "project.add_member", slug, {"username": username})
    return p


def remove_member(session: Session, actor: str, slug: str, username: str) -> Project:
    """Remove a member; their open requests stay for the audit trail."""
    p = get(session, slug)
    m = next((m for m in p.members if m.username == username), None)
    if m is None:
        raise NotFound(f"{username} is not a member of {slug}")
    p.members.remove(m)
    audit.append(session, actor, "project.remove_member", slug, {"username": username})
    return p


def grant(session: Session, actor: str, slug: str, dataset: str) -> Project:
    """Let the project query a registered dataset."""
    p = get(session, slug)
    _check_name(DATASET, dataset, "dataset name")
    if any(g.dataset == dataset for g in p.grants):
        raise Conflict(f"{slug} already has {dataset}")
    p.grants.append(DatasetGrant(dataset=dataset))
    audit.append(session, actor, "project.grant", slug, {"dataset": dataset})
    return p


def revoke(session: Session, actor: str, slug: str, dataset: str) -> Project:
    """Withdraw a dataset grant."""
    p = get(session, slug)
    g = next((g for g in p.grants if g.dataset == dataset), None)
    if g is None:
        raise NotFound(f"{slug} has no grant for {dataset}")
    p.grants.remove(g)
    audit.append(session, actor, "project.revoke", slug, {"dataset": dataset})
    return p


def approve_u18(session: Session, actor: str, slug: str, approved: bool = True) -> Project:
    """Approve (or withdraw approval of) the project for data about under-18s."""
    p = get(session, slug)
    p.u18_approved = approved
    audit.append(session, actor, "project.approve_u18", slug, {"approved": approved})
    return p


def expire(session: Session, actor: str, slug: str) -> Project:
    """End the project now: no more queries, exports or sandboxes."""
    p = get(session, slug)
    p.status = "expired"
    p.expires_at = utcnow()
    audit.append(session, actor, "project.expire", slug, {})
    return p


def list_projects(session: Session) -> list[Project]:
    """Every project, by slug."""
    return list(session.scalars(select(Project).order_by(Project.slug)))


def show(session: Session, slug: str) -> dict[str, Any]:
    """One project as plain data."""
    return to_dict(get(session, slug))


def projects_of(session: Session, username: str) -> set[str]:
    """Slugs of the projects ``username`` is a member of."""
    rows = session.scalars(
        select(Project.slug).join(Membership).where(Membership.username == username)
    )
    return set(rows)
