"""Server-rendered pages (Jinja2): reviewers' queue and request page, researchers' requests.

Forms post with Tornado's XSRF token; decisions go through the same business functions as the
API, so the pages cannot do anything the API would refuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from tornado import web

from vce.airlock import presenting
from vce.airlock.errors import AirlockError
from vce.airlock.scheduling import Action
from vce.airlock.states import REVIEWABLE, State
from vce.airlock.workflow import Airlock

TEMPLATES = Path(__file__).with_name("templates")
TO_REVIEW = ",".join(sorted(s.value for s in REVIEWABLE))
"""The queue's default filter: requests that passed the checks and those that released nothing."""


def environment() -> Environment:
    """Create the Jinja2 environment (autoescaped)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Pages:
    """Builds the page handlers bound to one :class:`Airlock`."""

    def __init__(self, airlock: Airlock) -> None:
        self.airlock = airlock
        self.env = environment()

    def routes(self, p: str) -> list[tuple[str, type]]:
        """URL patterns of the pages under prefix ``p`` (no trailing slash)."""
        from vce.airlock.app import BaseHandler

        env = self.env

        class Page(BaseHandler):
            def render_page(self, name: str, **ctx: Any) -> None:
                who = self.principal()
                self.finish(
                    env.get_template(name).render(
                        prefix=self.prefix, who=who, xsrf=self.xsrf_form_html(), **ctx
                    )
                )

            def write_error(self, status_code: int, **kwargs: Any) -> None:
                exc = kwargs.get("exc_info", (None, None, None))[1]
                msg = getattr(exc, "message", None) or getattr(exc, "log_message", None) or ""
                self.finish(
                    env.get_template("error.html").render(
                        prefix=self.prefix, who=None, status=status_code, message=msg
                    )
                )

            def _handle_request_exception(self, e: BaseException) -> None:
                if isinstance(e, AirlockError):
                    self.send_error(e.status, exc_info=(type(e), e, None))
                    return
                super()._handle_request_exception(e)

        class Home(Page):
            @web.authenticated
            def get(self) -> None:
                who = self.principal()
                mine = self.airlock.list(who, mine=False, limit=200)
                if who.is_reviewer or who.is_admin:
                    mine = self.airlock.list(who, mine=True, limit=200)
                self.render_page("home.html", requests=mine["requests"])

        class Queue(Page):
            @web.authenticated
            def get(self) -> None:
                who = self.principal()
                if not (who.is_reviewer or who.is_admin):
                    raise web.HTTPError(403, "the queue is for reviewers")
                state = self.get_argument("state", TO_REVIEW) or None
                project = self.get_argument("project", "") or None
                page = max(0, int(self.get_argument("page", "0") or 0))
                data = self.airlock.list(
                    who, state=state, project=project, limit=50, offset=page * 50
                )
                self.render_page(
                    "queue.html",
                    data=data,
                    state=state,
                    project=project or "",
                    page=page,
                    states=[TO_REVIEW, *(s.value for s in State)],
                )

        class RequestPage(Page):
            @web.authenticated
            def get(self, rid: str) -> None:
                who = self.principal()
                req = self.airlock.get(who, int(rid))
                th = self.airlock.executor.policy.thresholds
                preview = req["preview"] or {"columns": [], "rows": [], "total_rows": 0}
                rounded = presenting.rounded_columns(req["report"], preview["columns"])
                thresholds = {"min_entities": th.min_entities}
                if (req.get("provenance") or {}).get("u18_approved"):
                    thresholds["u18 min_entities"] = th.u18_min_entities
                self.render_page(
                    "request.html",
                    r=req,
                    sql=presenting.pretty_sql(req["sql"]),
                    checks=presenting.check_lines(req["report"]),
                    preview=preview,
                    rounded=rounded,
                    suppressed=(req["report"] or {}).get("suppressed_rows", 0),
                    chart=presenting.group_chart(
                        preview["columns"], preview["rows"], rounded, thresholds
                    ),
                    earlier=self.airlock.earlier_releases(req["project"], req["id"]),
                    withheld=presenting.withheld_pairs(req["report"]),
                )

        class Decide(Page):
            @web.authenticated
            def post(self, rid: str) -> None:
                who = self.principal()
                decision = self.get_body_argument("decision", "")
                comment = self.get_body_argument("comment", "") or None
                out = self.airlock.vote(who, int(rid), decision, comment)
                if out["state"] == "approved":
                    self.worker.enqueue(Action.RELEASE, out["id"])
                self.redirect(f"{self.prefix}requests/{rid}")

        class CommentForm(Page):
            @web.authenticated
            def post(self, rid: str) -> None:
                who = self.principal()
                private = self.get_body_argument("private", "") == "on"
                self.airlock.comment(who, int(rid), self.get_body_argument("body", ""), private)
                self.redirect(f"{self.prefix}requests/{rid}")

        return [
            (rf"{p}/?", Home),
            (rf"{p}/queue", Queue),
            (rf"{p}/requests/(\d{{1,9}})", RequestPage),
            (rf"{p}/requests/(\d{{1,9}})/decide", Decide),
            (rf"{p}/requests/(\d{{1,9}})/comment", CommentForm),
        ]
