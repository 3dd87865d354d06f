"""The airlock's release histories: one file per project, for the differencing guard.

Each project's released cells (and those of its requests awaiting review) are kept in
``<state>/release-history/<project>.sqlite`` (:mod:`vce.policy.releases`), trusted-side only:
they say who is behind every released number. A request is compared with its own project's
history, or with every project's when ``VCE_AIRLOCK_DIFFERENCING_SCOPE=all`` (teams that pool
what they were released).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from vce.airlock.config import Settings
from vce.airlock.db import Database
from vce.airlock.models import Request
from vce.airlock.states import State
from vce.policy.releases import ReleaseStore

# Requests whose pending cells count: they may still be released as they are, or were
# (a crash between writing a release and marking its record leaves it pending).
LIVE = (State.AWAITING_REVIEW.value, State.APPROVED.value, State.RELEASED.value)


def ref(request_id: int) -> str:
    """The history's name for a request.

    >>> ref(12)
    'request:12'
    """
    return f"request:{request_id}"


class Histories:
    """The release-history files of every project."""

    def __init__(self, settings: Settings) -> None:
        self.folder: Path = settings.history_dir
        self.scope = settings.differencing_scope

    def store(self, project: str) -> ReleaseStore:
        """The project's own history (created if missing)."""
        return ReleaseStore(self.folder / f"{project}.sqlite")

    def compared(self, project: str) -> list[ReleaseStore]:
        """The histories a request of ``project`` is compared with."""
        own = self.store(project)
        if self.scope != "all" or not self.folder.is_dir():
            return [own]
        others = sorted(p for p in self.folder.glob("*.sqlite") if p.stem != project)
        return [own, *(ReleaseStore(p) for p in others)]

    @staticmethod
    def live_refs(db: Database) -> set[str]:
        """Refs of requests awaiting review or approved: their pending cells count."""
        with db.session() as s:
            ids = s.scalars(select(Request.id).where(Request.state.in_(LIVE)))
            return {ref(i) for i in ids}
