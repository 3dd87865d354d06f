"""Tables of the airlock database: the project registry, requests and their history, audit.

The project registry lives here (not in the hub's database) so that the airlock can decide who
may see and release what without asking the hub, and the hub's ``vce project`` commands and
spawner read the same rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

MAX_MEMBERS = 10


def utcnow() -> dt.datetime:
    """Timezone-aware now; stored naive-UTC by SQLite, aware by PostgreSQL."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base; Alembic's autogenerate compares against its metadata."""


class Project(Base):
    """A research project: who is on it, which datasets it may query, whether U18 is approved."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    pi: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | expired
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    u18_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    members: Mapped[list[Membership]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="Membership.username"
    )
    grants: Mapped[list[DatasetGrant]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="DatasetGrant.dataset"
    )


class Membership(Base):
    """A user on a project (at most :data:`MAX_MEMBERS` per project)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("project_id", "username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(100), index=True)
    added: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    project: Mapped[Project] = relationship(back_populates="members")


class DatasetGrant(Base):
    """A registered dataset (by name) a project may query."""

    __tablename__ = "dataset_grants"
    __table_args__ = (UniqueConstraint("project_id", "dataset"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(100))
    granted: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    project: Mapped[Project] = relationship(back_populates="grants")


class Request(Base):
    """An export request (a query or a file) and the outcome of its latest check."""

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_state_created", "state", "created"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    requester: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # query | file
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    sql: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(255))
    # File exports only: the body lives in <state>/files/<sha256> (vce.airlock.bodies), not here.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    content_size: Mapped[int | None] = mapped_column(Integer)
    content_expired: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # re-executions started
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # check report, plain data
    result: Mapped[bytes | None] = mapped_column(LargeBinary)  # releasable table as Parquet
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # datasets, policy hash
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    project: Mapped[Project] = relationship()


class Vote(Base):
    """A reviewer's decision on one revision of a request (one per reviewer and revision)."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("request_id", "revision", "reviewer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(10))  # approve | return | reject
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Comment(Base):
    """A note on a request; ``private`` ones are shown to reviewers only."""

    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Event(Base):
    """One state change of a request (who, from, to, when)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Release(Base):
    """A released export: a folder under the releases directory, recorded once written."""

    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), unique=True)
    path: Mapped[str] = mapped_column(String(1000))
    files: Mapped[dict[str, Any]] = mapped_column(JSON)  # name -> {sha256, size}
    # What the weekly quotas count (vce.airlock.quotas): facts the project was given.
    released_rows: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    released_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditRecord(Base):
    """One hash-chained audit record; see :mod:`vce.airlock.audit`."""

    __tablename__ = "audit_records"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created: Mapped[str] = mapped_column(String(40))  # ISO-8601 UTC, part of the hash
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The newest audit record's seq and hash, updated in the same transaction as the append.

    Without it, deleting the last records would leave a shorter chain that still verifies.
    """

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
