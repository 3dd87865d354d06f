"""The export workflow: submit → trusted check → review → release, and what each role sees.

Every state change goes through :meth:`Airlock._move`, which checks the transition against
:mod:`vce.airlock.states`, records an :class:`~vce.airlock.models.Event` and an audit record in
the same transaction. Re-execution and release writing happen outside any transaction, with
the state persisted before and after, so a crash at any point leaves a request that
:meth:`Airlock.pending` hands back to the worker on restart.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import hashlib
import io
import json
import logging
import secrets
import time
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vce.airlock import audit, authz, history, projection, projects, quotas, scheduling
from vce.airlock.bodies import BodyStore
from vce.airlock.config import Settings
from vce.airlock.db import Database
from vce.airlock.errors import Conflict, Forbidden, Invalid, NotFound
from vce.airlock.execution import (
    Executor,
    History,
    Outcome,
    parquet_to_table,
    table_to_parquet,
)
from vce.airlock.filechecks import GENERATED_NAMES, FileReport, check_file, check_filename
from vce.airlock.filevalues import check_file_values
from vce.airlock.history import Histories
from vce.airlock.models import Comment, Event, Project, Release, Request, Vote, utcnow
from vce.airlock.release import clean_staging, write_atomically
from vce.airlock.states import RESUBMITTABLE, REVIEWABLE, State, can_move

log = logging.getLogger("vce.airlock")
DECISIONS = ("approve", "return", "reject")
MAX_SQL = 100_000
PREVIEW_ROWS = 200
SYSTEM = "airlock"


def _iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"'{key}' must be a non-empty string", code="invalid_" + key)
    if len(value) > limit:
        raise Invalid(f"'{key}' is longer than {limit} characters", code="invalid_" + key)
    return value


class Airlock:
    """Business logic over one database; the web layer and the worker call into it."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.db_url, files_dir=settings.files_dir)
        self.bodies = BodyStore(settings.files_dir)  # file-export content, outside the database
        self.executor = Executor(settings.policy_path, settings.datasets)
        self.histories = Histories(settings)

    # ---------------------------------------------------------------- helpers

    def _request(self, s: Session, request_id: int, *, lock: bool = False) -> Request:
        """Load a request, optionally taking its row lock.

        ``lock`` makes concurrent votes or state changes of the same request serialize on
        PostgreSQL (SQLite serializes all writers anyway).
        """
        req = s.get(Request, request_id, with_for_update=lock)
        if req is None:
            raise NotFound(f"no request {request_id}")
        return req

    def _move(self, s: Session, req: Request, to: State, actor: str, note: str = "") -> None:
        src = State(req.state)
        if not can_move(src, to):
            raise Conflict(f"request {req.id} is {src.value}; it cannot become {to.value}")
        req.state = to.value
        req.updated = utcnow()
        s.add(
            Event(
                request_id=req.id, actor=actor, from_state=src.value, to_state=to.value, note=note
            )
        )
        audit.append(
            s,
            actor,
            "request.state",
            f"request:{req.id}",
            {"from": src.value, "to": to.value, "revision": req.revision, "note": note},
        )

    def _approvals(self, s: Session, req: Request) -> list[Vote]:
        return list(
            s.scalars(
                select(Vote)
                .where(Vote.request_id == req.id, Vote.revision == req.revision)
                .where(Vote.decision == "approve")
                .order_by(Vote.created)
            )
        )

    # ---------------------------------------------------------------- reading

    def summary(self, req: Request) -> dict[str, Any]:
        """Return the fields every listing shows."""
        return {
            "id": req.id,
            "state": req.state,
            "project": req.project.slug,
            "name": req.name,
            "kind": req.kind,
            "requester": req.requester,
            "revision": req.revision,
            "created": _iso(req.created),
            "updated": _iso(req.updated),
            "reasons": list(req.reasons or []),
        }

    def view(self, s: Session, who: authz.Principal, req: Request) -> dict[str, Any]:
        """A request's summary as ``who`` may see it (a researcher: the projection)."""
        return self._views(s, who, [req])[0]

    def _views(self, s: Session, who: authz.Principal, reqs: list[Request]) -> list[dict[str, Any]]:
        """Summaries as ``who`` sees them; the projected ones share two queries between them."""
        hidden = [r for r in reqs if not authz.can_see_run(who, r)]
        updated = self._public_updated(s, [r.id for r in hidden]) if hidden else {}
        approvals: dict[tuple[int, int], int] = {}
        if hidden:
            rows = s.execute(
                select(Vote.request_id, Vote.revision, func.count())
                .where(Vote.request_id.in_([r.id for r in hidden]), Vote.decision == "approve")
                .group_by(Vote.request_id, Vote.revision)
            ).all()
            approvals = {(rid, rev): n for rid, rev, n in rows}
        out = []
        for r in reqs:
            full = self.summary(r)
            if r in hidden:
                full |= {
                    "approvals": approvals.get((r.id, r.revision), 0),
                    "public_updated": updated.get(r.id),
                }
                full = projection.researcher_view(full)
            out.append(full)
        return out

    def _public_updated(self, s: Session, ids: list[int]) -> dict[int, str | None]:
        """When each request last changed by a researcher's or reviewer's move."""
        rows = s.execute(
            select(Event.request_id, func.max(Event.created))
            .where(Event.request_id.in_(ids))
            .where(Event.to_state.not_in([st.value for st in projection.SYSTEM_MOVES]))
            .group_by(Event.request_id)
        ).all()
        return {rid: _iso(t) for rid, t in rows}

    def detail(self, s: Session, who: authz.Principal, req: Request) -> dict[str, Any]:
        """Everything about a request that ``who`` may see (a researcher: the projection)."""
        out = self.summary(req)
        private_ok = authz.can_see_private(who, req)
        results_ok = authz.can_see_results(who, req)
        comments = s.scalars(
            select(Comment).where(Comment.request_id == req.id).order_by(Comment.created)
        )
        votes = s.scalars(select(Vote).where(Vote.request_id == req.id).order_by(Vote.created))
        events = s.scalars(select(Event).where(Event.request_id == req.id).order_by(Event.id))
        release = s.scalar(select(Release).where(Release.request_id == req.id))
        out.update(
            purpose=req.purpose,
            sql=req.sql,
            filename=req.filename,
            report=req.report,
            provenance=req.provenance,
            approvals_required=self.settings.approvals_required,
            approvals=len(self._approvals(s, req)),
            preview=(self.preview(req) or self.file_preview(req)) if results_ok else None,
            votes=[
                {
                    "reviewer": v.reviewer,
                    "decision": v.decision,
                    "revision": v.revision,
                    "created": _iso(v.created),
                }
                for v in votes
            ],
            comments=[
                {
                    "author": c.author,
                    "body": c.body,
                    "private": c.private,
                    "created": _iso(c.created),
                }
                for c in comments
                if private_ok or not c.private
            ],
            events=[
                {
                    "actor": e.actor,
                    "from": e.from_state,
                    "to": e.to_state,
                    "note": e.note,
                    "created": _iso(e.created),
                }
                for e in events
            ],
            release=(
                {"files": release.files, "created": _iso(release.created)} if release else None
            ),
            can_review=authz.can_review(who, req) and State(req.state) in REVIEWABLE,
            can_download=authz.can_download(who, req),
            can_inspect=results_ok and req.kind == "file" and req.content_sha256 is not None,
        )
        if authz.can_see_run(who, req):
            return out
        out["public_updated"] = self._public_updated(s, [req.id]).get(req.id)
        return projection.researcher_view(out)

    def preview(self, req: Request) -> dict[str, Any] | None:
        """Return the releasable rows (first :data:`PREVIEW_ROWS`) as columns and plain values."""
        if req.result is None:
            return None
        table = parquet_to_table(req.result)
        head = table.slice(0, PREVIEW_ROWS)
        return {
            "columns": table.column_names,
            "rows": [[_plain(v) for v in row.values()] for row in head.to_pylist()],
            "total_rows": table.num_rows,
        }

    def file_preview(self, req: Request) -> dict[str, Any] | None:
        """The first rows of a CSV file export, for reviewers to read on the page."""
        if req.kind != "file" or not (req.filename or "").lower().endswith(".csv"):
            return None
        try:
            body = self.bodies.content_or_none(req) or b""
            rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
        except (UnicodeDecodeError, csv.Error):
            return None
        if not rows:
            return None
        return {"columns": rows[0], "rows": rows[1 : PREVIEW_ROWS + 1], "total_rows": len(rows) - 1}

    def request_content(self, who: authz.Principal, request_id: int) -> tuple[str, bytes]:
        """The file of a file export, for reviewers and administrators to inspect (audited)."""
        with self.db.session() as s:
            req = self._request(s, request_id)
            authz.check_view(who, req)
            if not authz.can_see_results(who, req):
                raise Forbidden("the file is shown to reviewers until it is released")
            content = self.bodies.content(req) if req.kind == "file" else None
            if content is None:
                raise NotFound(f"request {request_id} is not a file export")
            audit.append(
                s, who.name, "request.view_file", f"request:{req.id}", {"revision": req.revision}
            )
            return req.filename or "file", content

    def get(self, who: authz.Principal, request_id: int) -> dict[str, Any]:
        """One request, if ``who`` may see it."""
        with self.db.session() as s:
            req = self._request(s, request_id)
            authz.check_view(who, req)
            return self.detail(s, who, req)

    def list(
        self,
        who: authz.Principal,
        *,
        project: str | None = None,
        state: str | None = None,
        mine: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        """List the requests ``who`` may see, newest first, optionally filtered."""
        wanted = set(filter(None, (state or "").split(",")))
        known = {s.value for s in State} | {projection.SUBMITTED, projection.UNDER_REVIEW}
        if wanted - known:
            raise Invalid(f"unknown state {state!r}; one or more of: {', '.join(sorted(known))}")
        if not 1 <= limit <= 500 or offset < 0:
            raise Invalid("limit must be 1-500 and offset ≥ 0")
        with self.db.session() as s:
            q = select(Request).join(Project)
            mine_projects = projects.projects_of(s, who.name)
            if project is not None:
                projects.get(s, project)
                authz.check_list_project(s, who, project)
                q = q.where(Project.slug == project)
            elif not (who.is_reviewer or who.is_admin):
                q = q.where(Project.slug.in_(mine_projects))
            if mine:
                q = q.where(Request.requester == who.name)
            q = q.order_by(Request.id.desc())
            if who.is_admin or (who.is_reviewer and not mine_projects):
                # sees every request as it is: filter and page in the database
                if wanted:
                    q = q.where(Request.state.in_(wanted))
                total = s.scalar(select(func.count()).select_from(q.subquery()))
                rows = s.scalars(q.limit(limit).offset(offset))
                return {"requests": [self.summary(r) for r in rows], "total": total}
            # sees (some) requests projected: filter on the state the caller sees
            views = self._views(s, who, list(s.scalars(q)))
            if wanted:
                views = [v for v in views if v["state"] in wanted]
            return {"requests": views[offset : offset + limit], "total": len(views)}

    def earlier_releases(self, project_slug: str, before: int) -> list[dict[str, Any]]:
        """List the project's released requests other than ``before`` (for reviewers' context)."""
        with self.db.session() as s:
            rows = s.scalars(
                select(Request)
                .join(Project)
                .where(Project.slug == project_slug, Request.state == State.RELEASED.value)
                .where(Request.id != before)
                .order_by(Request.id.desc())
                .limit(20)
            )
            return [self.summary(r) for r in rows]

    # ---------------------------------------------------------------- researcher

    def _payload(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        if kind == "query":
            return {"sql": _text(body, "sql", MAX_SQL), "filename": None, "content": None}
        filename = _text(body, "filename", 255)
        assert filename is not None
        check_filename(filename)
        encoded = body.get("content_base64")
        if not isinstance(encoded, str):
            raise Invalid("'content_base64' must be the file's content in base64")
        if len(encoded) > (self.settings.file_max_bytes * 4) // 3 + 8:
            raise Invalid(f"file is larger than {self.settings.file_max_bytes} bytes")
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Invalid(f"'content_base64' is not valid base64: {exc}") from None
        return {"sql": None, "filename": filename, "content": content}

    def submit(self, who: authz.Principal, body: dict[str, Any]) -> dict[str, Any]:
        """Store a new export request in state ``submitted`` (the worker checks it next)."""
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        kind = body.get("kind")
        if kind not in ("query", "file"):
            raise Invalid("'kind' must be 'query' or 'file'", code="invalid_kind")
        slug = _text(body, "project", 64)
        name = _text(body, "name", 200)
        purpose = _text(body, "purpose", 5000)
        payload = self._payload(body, kind)
        with self.db.session() as s:
            project = projects.get(s, slug)  # type: ignore[arg-type]
            authz.check_submit(who, project)
            quotas.check_submission(s, self.settings, project)
            static, stored = self._static(kind, payload, project.u18_approved)
            req = Request(
                project=project,
                requester=who.name,
                kind=kind,
                name=name,
                purpose=purpose,
                state=State.SUBMITTED.value,
                reasons=[],
                **self.bodies.columns(stored),
            )
            s.add(req)
            s.flush()
            s.add(Event(request_id=req.id, actor=who.name, from_state=None, to_state="submitted"))
            audit.append(
                s,
                who.name,
                "request.submit",
                f"request:{req.id}",
                {
                    "project": slug,
                    "kind": kind,
                    "name": name,
                    "purpose": purpose,
                    "sql": payload["sql"],
                    "filename": payload["filename"],
                    "content_sha256": _sha(payload["content"]),
                },
            )
            self._settle_static(s, req, static)
            return self.view(s, who, req)

    def _static(
        self, kind: str, payload: dict[str, Any], u18_approved: bool
    ) -> tuple[Outcome, dict[str, Any]]:
        """The check that reads nothing but the request: its verdict may be shown at once.

        Returns it with the payload to store: a file that passes is kept as the checks rewrote
        it (a PNG re-encoded from its pixels), which is what reviewers inspect and a release
        holds.
        """
        if kind == "query":
            return self.executor.static(payload["sql"] or "", u18_approved), payload
        rep = self._file_report(payload["filename"], payload["content"])
        if rep.content is not None:
            payload = payload | {"content": rep.content}
        return Outcome(not rep.reasons, rep.reasons, rep.to_dict()), payload

    def _settle_static(self, s: Session, req: Request, static: Outcome) -> None:
        """Deny a request the static check refused, with its reasons (researcher-safe)."""
        audit.append(
            s,
            SYSTEM,
            "request.static_check",
            f"request:{req.id}",
            {"revision": req.revision, "allowed": static.allowed, "reasons": static.reasons},
        )
        req.report = static.report  # the trusted run replaces it; a file's stays its warnings
        if not static.allowed:
            req.reasons = static.reasons
            self._move(s, req, State.DENIED, SYSTEM, "; ".join(static.reasons)[:2000])

    def _file_report(self, filename: str, content: bytes) -> FileReport:
        th = self.executor.policy.thresholds
        return check_file(
            filename,
            content,
            max_bytes=self.settings.file_max_bytes,
            max_rows=self.settings.csv_max_rows,
            min_count=th.min_entities,
            rounding=th.rounding,
        )

    def resubmit(
        self, who: authz.Principal, request_id: int, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Revise a blocked or returned request; it is checked again as a new revision."""
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        with self.db.session() as s:
            req = self._request(s, request_id, lock=True)
            authz.check_view(who, req)
            authz.check_change(who, req)
            if State(req.state) not in RESUBMITTABLE:
                seen = projection.public_state(req.state, len(self._approvals(s, req)))
                raise Conflict(
                    f"request {req.id} is {seen}; only denied or returned requests can be "
                    "resubmitted"
                )
            payload = self._payload(body, req.kind)
            quotas.check_submission(s, self.settings, req.project)
            static, stored = self._static(req.kind, payload, req.project.u18_approved)
            req.sql, req.filename = payload["sql"], payload["filename"]
            self.bodies.attach(req, stored["content"])
            if isinstance(body.get("purpose"), str) and body["purpose"].strip():
                req.purpose = body["purpose"][:5000]
            req.revision += 1
            req.reasons, req.report, req.result = [], None, None
            self._move(s, req, State.SUBMITTED, who.name, f"revision {req.revision}")
            audit.append(
                s,
                who.name,
                "request.resubmit",
                f"request:{req.id}",
                {"revision": req.revision, "sql": req.sql, "content_sha256": req.content_sha256},
            )
            self._settle_static(s, req, static)
            return self.view(s, who, req)

    def withdraw(self, who: authz.Principal, request_id: int) -> dict[str, Any]:
        """Give up on a request that is not final yet (the requester only)."""
        with self.db.session() as s:
            req = self._request(s, request_id, lock=True)
            authz.check_view(who, req)
            authz.check_change(who, req)
            if not can_move(State(req.state), State.WITHDRAWN):
                seen = projection.public_state(req.state, len(self._approvals(s, req)))
                raise Conflict(f"request {req.id} is {seen}; it can no longer be withdrawn")
            self._move(s, req, State.WITHDRAWN, who.name)
            return self.view(s, who, req)

    # ---------------------------------------------------------------- worker

    def pending(self) -> list[scheduling.WorkItem]:
        """Work a (re)started service must do so that nothing stays stuck, oldest first."""
        clean_staging(self.settings.releases_dir)
        return scheduling.runnable(self.db)

    def process(self, request_id: int) -> str | None:
        """Re-execute (or file-check) a submitted request and move it on; returns the new state."""
        with self.db.session() as s:
            req = self._request(s, request_id, lock=True)
            if req.state == State.SUBMITTED.value:
                self._move(s, req, State.CHECKING, SYSTEM)
            elif req.state != State.CHECKING.value:
                return None  # done already (a duplicate queue entry)
            req.attempts += 1
            audit.append(
                s,
                SYSTEM,
                "request.execute",
                f"request:{req.id}",
                {"revision": req.revision, "attempt": req.attempts},
            )
            job = {
                "kind": req.kind,
                "sql": req.sql,
                "filename": req.filename,
                "content": self.bodies.content(req),
                "revision": req.revision,
                "granted": [g.dataset for g in req.project.grants],
                "u18": req.project.u18_approved,
                "static_report": req.report,
                "project": req.project.slug,
                "request_id": req.id,
            }
        if self.settings.fault_exec_delay:
            time.sleep(self.settings.fault_exec_delay)
        outcome = self._check(job)
        with self.db.session() as s:
            req = self._request(s, request_id, lock=True)  # a withdraw may have come meanwhile
            if req.state != State.CHECKING.value or req.revision != job["revision"]:
                return None
            req.reasons = outcome.reasons
            req.report = outcome.report
            req.provenance = outcome.provenance
            req.result = table_to_parquet(outcome.table) if outcome.table is not None else None
            if outcome.allowed and outcome.guarded is not None:  # compared by later requests
                from vce.policy import guarded

                guarded.record(
                    self.histories.store(job["project"]),
                    outcome.guarded,
                    ref=history.ref(req.id),
                    project=job["project"],
                    sql=job["sql"] or "",
                    pending=True,
                )
            audit.append(
                s,
                SYSTEM,
                "request.check",
                f"request:{req.id}",
                {
                    "revision": req.revision,
                    "allowed": outcome.allowed,
                    "reasons": outcome.reasons,
                    "report": outcome.report,
                    "result_sha256": _sha(req.result),
                },
            )
            to = State.AWAITING_REVIEW if outcome.allowed else State.BLOCKED
            self._move(s, req, to, SYSTEM, "; ".join(outcome.reasons)[:2000])
            return to.value

    def _check(self, job: dict[str, Any]) -> Outcome:
        """Run the trusted checks; whatever they say is for reviewers (and the audit log) only."""
        try:
            if job["kind"] == "query":
                against = History(
                    self.histories.compared(job["project"]),
                    frozenset(self.histories.live_refs(self.db)),
                    history.ref(job["request_id"]),
                )
                out = self.executor.run(job["sql"], job["granted"], job["u18"], against)
            else:
                out = self._check_file(job)
        except Exception as exc:  # never leave a request stuck in `checking`
            error_id = secrets.token_hex(4)
            log.exception("re-execution failed (error %s)", error_id)
            reason = (
                f"the trusted re-execution failed (error {error_id}): {type(exc).__name__}: {exc}"
            )
            return Outcome(False, [reason], {"error": reason, "error_id": error_id})
        if not out.allowed and any("execution-error" in r for r in out.reasons):
            out.report["error_id"] = error_id = secrets.token_hex(4)
            log.warning("request failed in the engine (error %s): %s", error_id, out.reasons)
        return out

    def _check_file(self, job: dict[str, Any]) -> Outcome:
        """The file checks that read the granted datasets (real minors' rows included).

        Whether the file carries identifier or free-text values of the data is a fact about
        real people, so these reasons — and whether there are any — are for reviewers only.
        """
        static = job["static_report"]
        reasons: list[str] = []
        if static is None:  # stored before the content checks ran at submission
            rep = self._file_report(job["filename"], job["content"])
            static, reasons = rep.to_dict(), list(rep.reasons)
        dirs, missing = self.executor.data_dirs(job["granted"])
        reasons += missing
        if dirs:
            reasons += check_file_values(
                job["filename"], job["content"], dirs, self.executor.policy, job["u18"]
            )
        prov = self.executor.provenance(job["granted"], job["u18"])
        return Outcome(not reasons, reasons, static | {"reasons": reasons}, None, prov)

    # ---------------------------------------------------------------- reviewer

    def vote(
        self, who: authz.Principal, request_id: int, decision: str, comment: str | None = None
    ) -> dict[str, Any]:
        """Record a reviewer's decision; the N-th distinct approval approves the request."""
        if decision not in DECISIONS:
            raise Invalid(f"'decision' must be one of {', '.join(DECISIONS)}")
        if comment is not None and (not isinstance(comment, str) or len(comment) > 10_000):
            raise Invalid("'comment' must be a string of at most 10000 characters")
        with self.db.session() as s:
            req = self._request(s, request_id, lock=True)
            authz.check_view(who, req)
            authz.check_vote(who, req, self.settings.votes_need_session)
            if State(req.state) not in REVIEWABLE:
                raise Conflict(f"request {req.id} is {req.state}, not awaiting review")
            if decision != "approve" and not (comment or "").strip():
                raise Invalid(f"say why you {decision} it: 'comment' is required")
            if decision == "approve" and req.state == State.BLOCKED.value:
                raise Conflict(
                    f"request {req.id} released nothing in the trusted checks; return it with a "
                    "comment the researcher can act on (they see your words, not the checks), "
                    "or reject it"
                )
            seen = s.scalar(
                select(Vote).where(
                    Vote.request_id == req.id,
                    Vote.revision == req.revision,
                    Vote.reviewer == who.name,
                )
            )
            if seen is not None:
                raise Conflict(f"{who.name} has already voted on revision {req.revision}")
            s.add(
                Vote(request_id=req.id, revision=req.revision, reviewer=who.name, decision=decision)
            )
            if comment and comment.strip():
                s.add(Comment(request_id=req.id, author=who.name, body=comment, private=False))
            s.flush()
            audit.append(
                s,
                who.name,
                "request.vote",
                f"request:{req.id}",
                {"revision": req.revision, "decision": decision, "comment": comment},
            )
            if decision == "approve":
                n = len(self._approvals(s, req))
                if n >= self.settings.approvals_required:
                    self._move(s, req, State.APPROVED, who.name, f"{n} approvals")
            elif decision == "return":
                self._move(s, req, State.RETURNED, who.name, comment or "")
            else:
                self._move(s, req, State.REJECTED, who.name, comment or "")
            return self.summary(req)

    def comment(
        self, who: authz.Principal, request_id: int, body: str, private: bool = False
    ) -> dict[str, Any]:
        """Add a comment; private ones are visible to reviewers only."""
        if not isinstance(body, str) or not body.strip() or len(body) > 10_000:
            raise Invalid("'body' must be 1-10000 characters")
        if not isinstance(private, bool):
            raise Invalid("'private' must be true or false")
        with self.db.session() as s:
            req = self._request(s, request_id)
            authz.check_view(who, req)
            authz.check_comment(who, req, private)
            c = Comment(request_id=req.id, author=who.name, body=body, private=private)
            s.add(c)
            audit.append(
                s,
                who.name,
                "request.comment",
                f"request:{req.id}",
                {"private": private, "body": body},
            )
            return {"author": who.name, "body": body, "private": private}

    # ---------------------------------------------------------------- release

    def release(self, request_id: int) -> bool:
        """Write an approved request's release folder atomically and record it."""
        with self.db.session() as s:
            req = self._request(s, request_id, lock=True)
            if req.state != State.APPROVED.value:
                return False
            slug, req_kind = req.project.slug, req.kind
            files = self._release_files(s, req)
        try:
            path, hashes = write_atomically(
                self.settings.releases_dir,
                slug,
                request_id,
                files,
                fault_delay=self.settings.fault_release_delay,
            )
        except OSError as exc:
            log.exception("release of request %s failed", request_id)
            with self.db.session() as s:
                audit.append(
                    s,
                    SYSTEM,
                    "release.failed",
                    f"request:{request_id}",
                    {"error": f"{type(exc).__name__}: {exc}"},
                )
            return False
        with self.db.session() as s:
            req = self._request(s, request_id)
            if req.state != State.APPROVED.value:
                return False
            s.add(Release(request_id=req.id, path=str(path), files=hashes, **quotas.measure(files)))
            audit.append(
                s,
                SYSTEM,
                "request.release",
                f"request:{req.id}",
                {"path": str(path), "files": hashes},
            )
            self._move(s, req, State.RELEASED, SYSTEM)
        if req_kind == "query":  # its cells now count for every later request
            self.histories.store(slug).mark_released(history.ref(request_id))
        return True

    def _release_files(self, s: Session, req: Request) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        if req.kind == "query":
            table = parquet_to_table(req.result) if req.result else pa.table({})
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink)
            files["result.csv"] = sink.getvalue().to_pybytes()
            files["result.parquet"] = req.result or table_to_parquet(table)
        else:
            content = self.bodies.content(req)
            assert req.filename is not None and content is not None
            if req.filename.lower() in GENERATED_NAMES:  # stored before names were checked
                raise Conflict(f"export {req.filename!r} would replace a file the release writes")
            files[req.filename] = content
        result_hashes = {n: {"sha256": _sha(b), "size": len(b)} for n, b in files.items()}
        # Project members read the manifest: researchers' and reviewers' moves only, like
        # every other view of theirs (no earlier revision's trusted outcome, no run timing).
        events = projection.public_events(
            [
                {"to": e.to_state, "from": e.from_state, "created": e.created}
                for e in s.scalars(
                    select(Event).where(Event.request_id == req.id).order_by(Event.id)
                )
            ]
        )
        manifest = {
            "request": {
                "id": req.id,
                "project": req.project.slug,
                "name": req.name,
                "kind": req.kind,
                "requester": req.requester,
                "purpose": req.purpose,
                "revision": req.revision,
            },
            "sql": req.sql,
            "datasets": (req.provenance or {}).get("datasets", []),
            "policy": (req.provenance or {}).get("policy"),
            "u18_approved": (req.provenance or {}).get("u18_approved"),
            "check_report": projection.public_report(req.report),
            "approvals": [
                {"reviewer": v.reviewer, "at": _iso(v.created)} for v in self._approvals(s, req)
            ],
            "timestamps": {
                "submitted": _iso(req.created),
                **{e["to"]: _iso(e["created"]) for e in events},
            },
            "files": result_hashes,
        }
        files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        files["README.md"] = _readme(req, manifest).encode()
        return files

    def release_file(self, who: authz.Principal, request_id: int, name: str) -> bytes:
        """Read a file of a release for a project member, auditing the download."""
        with self.db.session() as s:
            req = self._request(s, request_id)
            authz.check_view(who, req)
            authz.check_download(who, req)
            rel = s.scalar(select(Release).where(Release.request_id == req.id))
            if rel is None or name not in rel.files:
                raise NotFound(f"release of request {request_id} has no file {name!r}")
            from pathlib import Path

            data = (Path(rel.path) / name).read_bytes()
            if _sha(data) != rel.files[name]["sha256"]:
                raise Conflict(f"{name} no longer matches its recorded hash; tell an administrator")
            audit.append(s, who.name, "release.download", f"request:{req.id}", {"file": name})
            return data


def _sha(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)


def _readme(req: Request, manifest: dict[str, Any]) -> str:
    approvers = ", ".join(a["reviewer"] for a in manifest["approvals"]) or "-"
    files = "\n".join(f"- `{n}` sha256 `{h['sha256']}`" for n, h in manifest["files"].items())
    return (
        f"# {req.name}\n\n"
        f"Export {req.id} of project `{req.project.slug}`, requested by {req.requester}.\n\n"
        f"Purpose: {req.purpose}\n\n"
        f"Released by the VCE airlock after the automatic disclosure checks and the approval "
        f"of: {approvers}.\n\n## Files\n\n{files}\n- `manifest.json`: the SQL, dataset "
        "versions and file hashes, the policy hash, the check report, approvals and "
        "timestamps.\n\nVerify a file with `sha256sum` against the list above.\n"
    )
