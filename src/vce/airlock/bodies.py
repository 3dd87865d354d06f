"""File-export bodies outside the database: a content-addressed folder with retention.

A body is stored once as ``<state>/files/<sha256>`` (written to a temporary name, fsynced,
renamed), and the request row keeps only its hash and size, so the database stays small and a
16 MiB upload costs no database I/O after submission. Bodies of finished requests (rejected,
withdrawn, released — a release has its own copy in the release folder) are deleted by
:meth:`BodyStore.sweep` once ``body_retention_days`` have passed; the request keeps its hash and
is marked ``content_expired``, and asking for the body then raises :class:`~.errors.Gone`.

Deleting a shared body must never race a new submission of the same bytes: :meth:`BodyStore.put`
and the delete step of :meth:`BodyStore.sweep` hold one lock, ``put`` always refreshes the file's
modification time, and a body is deleted only if no live request refers to it *and* it was last
written before the referring requests finished. Only the airlock service writes bodies (its
request handlers and its worker threads), so an in-process lock is enough.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from vce.airlock.db import Database
from vce.airlock.errors import Conflict, Gone
from vce.airlock.models import Request, utcnow
from vce.airlock.states import FINAL

TMP_PREFIX = ".tmp-"
# An unreferenced body (a resubmission replaced it, or a submission failed after writing it)
# is deleted once it has not been written for this long.
ORPHAN_GRACE = dt.timedelta(days=1)
_LOCK = threading.Lock()


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``.

    >>> sha256(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@dataclass
class SweepResult:
    """What one sweep did: requests newly marked expired, body files deleted."""

    expired: int = 0
    deleted: int = 0


class BodyStore:
    """The folder of bodies; every read and write of a file export's content goes through it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where the body with this hash lives."""
        return self.root / digest

    def put(self, data: bytes) -> str:
        """Store ``data`` atomically (once per content) and return its hash."""
        digest = sha256(data)
        final = self.path(digest)
        with _LOCK:
            try:
                os.utime(final)  # already there: same bytes; mark it freshly written
                return digest
            except FileNotFoundError:
                pass
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f"{TMP_PREFIX}{uuid.uuid4().hex}"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return digest

    def attach(self, req: Request, data: bytes | None) -> None:
        """Give ``req`` this body (or none): store it and record hash and size on the row."""
        if data is None:
            req.content_sha256, req.content_size, req.content_expired = None, None, None
            return
        req.content_sha256, req.content_size = self.put(data), len(data)
        req.content_expired = None

    def columns(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with its ``content`` bytes replaced by the row's hash and size columns."""
        out = {k: v for k, v in payload.items() if k != "content"}
        data = payload.get("content")
        out["content_sha256"] = self.put(data) if data is not None else None
        out["content_size"] = len(data) if data is not None else None
        return out

    def content(self, req: Request) -> bytes | None:
        """The body of a file export (``None`` for a query); :class:`Gone` once deleted."""
        if req.content_sha256 is None:
            return None
        if req.content_expired is not None:
            when = _aware(req.content_expired).date().isoformat()
            raise Gone(
                f"the file of request {req.id} was deleted on {when}, after the retention "
                "period of finished requests; a released file stays in its release folder",
                code="content_expired",
            )
        try:
            data = self.path(req.content_sha256).read_bytes()
        except FileNotFoundError:
            raise Gone(
                f"the file of request {req.id} is no longer stored", code="content_missing"
            ) from None
        if sha256(data) != req.content_sha256:
            raise Conflict(f"the stored file of request {req.id} no longer matches its hash")
        return data

    def content_or_none(self, req: Request) -> bytes | None:
        """Like :meth:`content`, but ``None`` instead of :class:`Gone` (for previews)."""
        try:
            return self.content(req)
        except Gone:
            return None

    def sweep(
        self, db: Database, retention: dt.timedelta, now: dt.datetime | None = None
    ) -> SweepResult:
        """Expire the bodies of requests finished before ``now - retention``; delete files.

        A file is deleted when no request that is still live refers to it and it was last
        written before every expired request referring to it had finished (or, if nobody
        refers to it, more than :data:`ORPHAN_GRACE` ago).
        """
        now = now or utcnow()
        out = SweepResult()
        with db.session() as s:
            res = s.execute(
                update(Request)
                .where(Request.content_sha256.is_not(None), Request.content_expired.is_(None))
                .where(Request.state.in_([st.value for st in FINAL]))
                .where(Request.updated < now - retention)
                .values(content_expired=now)
                .execution_options(synchronize_session=False)
            )
            out.expired = res.rowcount or 0
        with db.session() as s:
            live = set(
                s.scalars(
                    select(Request.content_sha256).where(
                        Request.content_sha256.is_not(None), Request.content_expired.is_(None)
                    )
                )
            )
            finished = {
                h: _aware(t)
                for h, t in s.execute(
                    select(Request.content_sha256, func.max(Request.updated))
                    .where(Request.content_expired.is_not(None))
                    .group_by(Request.content_sha256)
                )
            }
        if not self.root.is_dir():
            return out
        for entry in self.root.iterdir():
            name = entry.name
            if name in live:
                continue
            cutoff = finished.get(name, now - ORPHAN_GRACE)
            with _LOCK:  # a concurrent put() either refreshed the mtime already or comes after
                try:
                    written = dt.datetime.fromtimestamp(entry.stat().st_mtime, dt.UTC)
                except FileNotFoundError:
                    continue
                if written < cutoff:
                    entry.unlink(missing_ok=True)
                    out.deleted += 0 if name.startswith(TMP_PREFIX) else 1
        return out
