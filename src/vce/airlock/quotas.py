"""Per-project rate limits and quotas, decided at submission from researcher-known facts only.

Three limits from :class:`~vce.airlock.config.Settings` (0 switches one off):

- ``requests_per_day`` — submissions and resubmissions of a project in the current UTC day;
- ``released_rows_per_week`` and ``released_bytes_per_week`` — what was *released* to the
  project since Monday 00:00 UTC.

Threat model: a refusal the researcher sees must not depend on anything the trusted run
computed on the real data and nobody released (a row count of an unreleased result would be an
oracle on real rows). So these count only the project's own submissions and the releases it
received — never results waiting for review — and a refusal happens when a new request is
submitted, never when a reviewed one is released. A single release may exceed a weekly quota;
the next submission is then refused until the week ends.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vce.airlock.config import Settings
from vce.airlock.errors import TooManyRequests
from vce.airlock.models import Event, Project, Release, Request, utcnow

DOCUMENTATION_FILES = frozenset({"manifest.json", "README.md"})  # written by us, not counted
TEXT_TABLES = (".csv", ".tsv")


def day_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC day around ``now``.

    >>> day_window(dt.datetime(2025, 3, 5, 14, 30, tzinfo=dt.UTC))[1].isoformat()
    '2025-03-06T00:00:00+00:00'
    """
    start = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(), dt.UTC)
    return start, start + dt.timedelta(days=1)


def week_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The week (Monday 00:00 UTC to the next Monday) around ``now``.

    >>> [t.date().isoformat() for t in week_window(dt.datetime(2025, 3, 5, tzinfo=dt.UTC))]
    ['2025-03-03', '2025-03-10']
    """
    day, _ = day_window(now)
    start = day - dt.timedelta(days=day.weekday())
    return start, start + dt.timedelta(days=7)


def _refuse(message: str, code: str, now: dt.datetime, resets: dt.datetime) -> TooManyRequests:
    wait = max(1, int((resets - now).total_seconds()))
    when = resets.isoformat().replace("+00:00", "Z")
    return TooManyRequests(f"{message}; it resets at {when}", code=code, retry_after=wait)


def check_submission(
    s: Session, settings: Settings, project: Project, now: dt.datetime | None = None
) -> None:
    """Raise :class:`TooManyRequests` if ``project`` may not submit another request now.

    Call it inside the transaction that stores the submission: the project row is locked
    (PostgreSQL; SQLite holds the write lock already) so concurrent submissions count each
    other.
    """
    now = now or utcnow()
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(Project.id).where(Project.id == project.id).with_for_update())
    if settings.requests_per_day > 0:
        start, end = day_window(now)
        used = s.scalar(
            select(func.count(Event.id))
            .join(Request, Request.id == Event.request_id)
            .where(Request.project_id == project.id, Event.to_state == "submitted")
            .where(Event.created >= start)
        )
        if (used or 0) >= settings.requests_per_day:
            raise _refuse(
                f"project {project.slug} has made its {settings.requests_per_day} requests "
                f"per day (VCE_AIRLOCK_REQUESTS_PER_DAY, submissions and resubmissions)",
                "rate_limited",
                now,
                end,
            )
    limits = (settings.released_rows_per_week, settings.released_bytes_per_week)
    if not any(limit > 0 for limit in limits):
        return
    start, end = week_window(now)
    rows, size = s.execute(
        select(
            func.coalesce(func.sum(Release.released_rows), 0),
            func.coalesce(func.sum(Release.released_bytes), 0),
        )
        .join(Request, Request.id == Release.request_id)
        .where(Request.project_id == project.id, Release.created >= start)
    ).one()
    for used, limit, what, var in (
        (rows, settings.released_rows_per_week, "rows", "VCE_AIRLOCK_RELEASED_ROWS_PER_WEEK"),
        (size, settings.released_bytes_per_week, "bytes", "VCE_AIRLOCK_RELEASED_BYTES_PER_WEEK"),
    ):
        if limit > 0 and used >= limit:
            raise _refuse(
                f"project {project.slug} was released {used} {what} this week, which reaches "
                f"its quota of {limit} released {what} per week ({var})",
                f"quota_{what}",
                now,
                end,
            )


def measure(files: dict[str, bytes]) -> dict[str, Any]:
    r"""Rows and bytes a release gives the project (its data files; not manifest or README).

    >>> measure({"t.csv": b"a,b\n1,2\n3,4\n", "README.md": b"hello"})
    {'released_rows': 2, 'released_bytes': 12}
    """
    data = {n: b for n, b in files.items() if n not in DOCUMENTATION_FILES}
    if "result.parquet" in data:
        rows = pq.ParquetFile(io.BytesIO(data["result.parquet"])).metadata.num_rows
    else:
        rows = sum(_text_rows(n, b) for n, b in data.items())
    return {"released_rows": rows, "released_bytes": sum(len(b) for b in data.values())}


def _text_rows(name: str, data: bytes) -> int:
    if not name.lower().endswith(TEXT_TABLES):
        return 0
    delimiter = "\t" if name.lower().endswith(".tsv") else ","
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8")), delimiter=delimiter)
        return max(0, sum(1 for _ in reader) - 1)  # minus the header
    except (UnicodeDecodeError, csv.Error):
        return data.count(b"\n")
