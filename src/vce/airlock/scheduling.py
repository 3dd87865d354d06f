"""What the workers do next: typed work items, read from the database, picked fairly.

The database is the queue: a request that is ``submitted`` or ``checking`` needs re-execution,
one that is ``approved`` needs its release written (:func:`runnable`). The workers pick among
those with :func:`pick` — round-robin across projects (the project served longest ago first),
oldest request first inside a project, and at most ``per_project`` requests of one project at
a time — so one project's flood of heavy queries occupies at most that many workers while the
others serve everyone else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from vce.airlock.db import Database
from vce.airlock.models import Request
from vce.airlock.states import RESUMABLE, State


class Action(StrEnum):
    """What a worker does with a request."""

    PROCESS = "process"  # trusted re-execution (or file checks) of a submitted request
    RELEASE = "release"  # write the release folder of an approved request


@dataclass(frozen=True, order=True)
class WorkItem:
    """One unit of work: ``action`` on request ``request_id`` of project ``project_id``."""

    request_id: int
    action: Action
    project_id: int


def action_for(state: str) -> Action:
    """The work a request in ``state`` needs.

    >>> action_for("approved"), action_for("checking")
    (<Action.RELEASE: 'release'>, <Action.PROCESS: 'process'>)
    """
    return Action.RELEASE if state == State.APPROVED.value else Action.PROCESS


def runnable(db: Database) -> list[WorkItem]:
    """Every request that needs work, oldest first (the truth the workers schedule from)."""
    with db.session() as s:
        rows = s.execute(
            select(Request.id, Request.state, Request.project_id)
            .where(Request.state.in_([st.value for st in RESUMABLE]))
            .order_by(Request.id)
        ).all()
    return [WorkItem(rid, action_for(st), pid) for rid, st, pid in rows]


def pick(
    items: Iterable[WorkItem],
    running: Mapping[int, int],
    last_served: Mapping[int, int],
    per_project: int = 1,
) -> WorkItem | None:
    """Choose the next item, or ``None`` when every project with work is at its limit.

    ``running`` counts the items in progress per project, ``last_served`` is a tick per project
    (higher = served more recently; absent = never). Projects under their limit take turns,
    least recently served first (ties: the one with the oldest request); inside a project the
    oldest request goes first.

    >>> a1, a2, b1 = WorkItem(1, Action.PROCESS, 7), WorkItem(2, Action.PROCESS, 7), WorkItem(
    ...     3, Action.PROCESS, 8)
    >>> pick([a1, a2, b1], running={}, last_served={}).request_id
    1
    >>> pick([a2, b1], running={7: 1}, last_served={7: 1}).request_id  # A is busy
    3
    >>> pick([a2, b1], running={}, last_served={7: 2, 8: 1}).request_id  # B's turn
    3
    >>> pick([a2], running={7: 1}, last_served={}) is None
    True
    """
    first: dict[int, WorkItem] = {}
    for item in items:
        if running.get(item.project_id, 0) >= per_project:
            continue
        if item.project_id not in first or item.request_id < first[item.project_id].request_id:
            first[item.project_id] = item
    if not first:
        return None
    return min(first.values(), key=lambda i: (last_served.get(i.project_id, -1), i.request_id))
