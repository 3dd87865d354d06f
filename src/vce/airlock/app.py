"""The airlock web service: JSON API + server-rendered pages, run by JupyterHub as a service.

Browsers log in through the hub (OAuth, :class:`~jupyterhub.services.auth.HubOAuthenticated`);
programs send ``Authorization: token <JupyterHub API token>``. Handlers only translate HTTP to
calls on :class:`~vce.airlock.workflow.Airlock` and back; permissions live in
:mod:`vce.airlock.authz`.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import secrets
from typing import Any
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

from vce.airlock import audit, authz, projects
from vce.airlock.config import in_networks
from vce.airlock.errors import AirlockError, Forbidden, Invalid, NotFound, TooManyRequests
from vce.airlock.openapi import openapi_document
from vce.airlock.scheduling import Action
from vce.airlock.views import Pages
from vce.airlock.worker import Worker
from vce.airlock.workflow import Airlock
from vce.clientaddr import client_address

log = logging.getLogger("vce.airlock")
MAX_ID = 2**31 - 1


def attachment(name: str) -> str:
    """A ``Content-Disposition`` that no file name can break out of (RFC 6266).

    The name goes percent-encoded in ``filename*`` (RFC 8187, :func:`urllib.parse.quote`), with
    an ASCII fallback for old clients, so a ``"``, ``;`` or CR/LF in a name stored before
    names were checked cannot add parameters or headers.

    >>> print(attachment('a"; x=.png'))
    attachment; filename="a___x_.png"; filename*=UTF-8''a%22%3B%20x%3D.png
    """
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _id(raw: str) -> int:
    value = int(raw)
    if value > MAX_ID:
        raise NotFound(f"no request {raw}")
    return value


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    """Common plumbing: the airlock, the caller as a :class:`~vce.airlock.authz.Principal`."""

    _checking_token = False

    @property
    def airlock(self) -> Airlock:
        """The business layer."""
        return self.settings["airlock"]

    @property
    def worker(self) -> Worker:
        """The background worker."""
        return self.settings["worker"]

    @property
    def prefix(self) -> str:
        """URL prefix of the service (``/services/airlock/``)."""
        return self.settings["prefix"]

    def check_xsrf_cookie(self) -> None:
        """Skip XSRF only for a call that a token *authenticated*, not one carrying a header.

        A page can make a logged-in browser send any ``Authorization`` header along with its
        cookie; if the header alone waived the check, ``Authorization: token x`` plus the
        cookie would pass as the victim. So the token is checked first (JupyterHub marks the
        handler ``_token_authenticated``); an invalid one leaves a cookie-authenticated call
        that needs its XSRF token like any form. (JupyterHub's cookie path calls this method
        again while authenticating: that inner call only checks the XSRF token.)
        """
        if self.request.headers.get("Authorization") and not self._checking_token:
            self._checking_token = True
            try:
                _ = self.current_user  # a valid token marks the handler token-authenticated
            finally:
                self._checking_token = False
            if getattr(self, "_token_authenticated", False):
                return
        super().check_xsrf_cookie()

    def principal(self) -> authz.Principal:
        """Return the caller; raise 401 (JSON) when not authenticated."""
        user = self.current_user
        if not user or user.get("kind", "user") != "user":
            raise web.HTTPError(401, "authenticate with a JupyterHub token or log in")
        return authz.Principal(
            user["name"],
            frozenset(user.get("scopes") or ()),
            own_session=bool(user.get("session_id")),
        )

    def set_default_headers(self) -> None:
        """No page of the airlock may be framed (clickjacking a reviewer's vote)."""
        self.set_header("Content-Security-Policy", "frame-ancestors 'none'")
        self.set_header("X-Frame-Options", "DENY")


class APIHandler(BaseHandler):
    """JSON in, JSON out; errors as ``{"error": {"code", "message"}}``."""

    def get_login_url(self) -> str:
        """APIs never redirect to a login page."""
        raise web.HTTPError(401, "authenticate with a JupyterHub token")

    def body(self) -> dict[str, Any]:
        """Parse the request body as a JSON object."""
        try:
            data = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Invalid("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Invalid("the body must be a JSON object")
        return data

    def send(self, data: Any, status: int = 200) -> None:
        """Write ``data`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is JSON with a code and a message."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError):
            message = exc.log_message or self._reason
            code = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}.get(
                status_code, "error"
            )
        else:
            message, code = "internal error; the administrators have the details", "internal"
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"error": {"code": code, "message": message}}))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, AirlockError):
            self.set_status(e.status)
            if isinstance(e, TooManyRequests):
                self.set_header("Retry-After", str(e.retry_after))
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({"error": {"code": e.code, "message": e.message}}))
            return
        super()._handle_request_exception(e)


class OpenAPIHandler(APIHandler):
    """The OpenAPI document (no authentication: it describes, it does not disclose)."""

    def get(self) -> None:
        """Serve the document with this deployment's server URL."""
        self.send(openapi_document(self.prefix))


class HealthHandler(APIHandler):
    """Liveness for the hub and tests."""

    def get(self) -> None:
        """Answer ok."""
        self.send({"status": "ok"})


class WhoAmIHandler(APIHandler):
    """The caller and their roles, for clients to show."""

    def get(self) -> None:
        """Name, roles and projects of the caller."""
        who = self.principal()
        with self.airlock.db.session() as s:
            mine = sorted(projects.projects_of(s, who.name))
        self.send(
            {"name": who.name, "reviewer": who.is_reviewer, "admin": who.is_admin, "projects": mine}
        )


class RequestsHandler(APIHandler):
    """List and create export requests."""

    def get(self) -> None:
        """List the requests the caller may see."""
        who = self.principal()
        try:
            limit = int(self.get_argument("limit", "100"))
            offset = int(self.get_argument("offset", "0"))
        except ValueError:
            raise Invalid("limit and offset must be integers") from None
        self.send(
            self.airlock.list(
                who,
                project=self.get_argument("project", None),
                state=self.get_argument("state", None),
                mine=self.get_argument("mine", "false") == "true",
                limit=limit,
                offset=offset,
            )
        )

    def post(self) -> None:
        """Submit a request; it is checked in the background."""
        who = self.principal()
        created = self.airlock.submit(who, self.body())
        self.worker.enqueue(Action.PROCESS, created["id"])
        self.send(created, 201)


class RequestHandler(APIHandler):
    """One request with its report, preview, votes and comments."""

    def get(self, rid: str) -> None:
        """Return the request, if the caller may see it."""
        self.send(self.airlock.get(self.principal(), _id(rid)))


class ResubmitHandler(APIHandler):
    """Revise a blocked or returned request."""

    def post(self, rid: str) -> None:
        """Replace the SQL (or file) of the request and check it again."""
        out = self.airlock.resubmit(self.principal(), _id(rid), self.body())
        self.worker.enqueue(Action.PROCESS, out["id"])
        self.send(out)


class WithdrawHandler(APIHandler):
    """Withdraw a request."""

    def post(self, rid: str) -> None:
        """Withdraw it (the requester only)."""
        self.send(self.airlock.withdraw(self.principal(), _id(rid)))


class VotesHandler(APIHandler):
    """Reviewers' decisions."""

    def post(self, rid: str) -> None:
        """Approve, return or reject."""
        body = self.body()
        out = self.airlock.vote(
            self.principal(), _id(rid), body.get("decision"), body.get("comment")
        )
        if out["state"] == "approved":
            self.worker.enqueue(Action.RELEASE, out["id"])
        self.send(out, 201)


class CommentsHandler(APIHandler):
    """Comments on a request."""

    def post(self, rid: str) -> None:
        """Add one (``private`` for reviewers only)."""
        body = self.body()
        out = self.airlock.comment(
            self.principal(), _id(rid), body.get("body"), body.get("private", False)
        )
        self.send(out, 201)


class FileHandler(APIHandler):
    """Download one file of a release (project members, outside the sandbox)."""

    def get(self, rid: str, name: str) -> None:
        """Send the file as an attachment."""
        who = self.principal()
        settings = self.airlock.settings
        if in_networks(
            client_address(self.request, settings.trusted_proxies), settings.sandbox_networks
        ):
            raise Forbidden(
                "releases are downloaded outside the sandbox: open the airlock in your browser"
            )
        data = self.airlock.release_file(who, _id(rid), name)
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self.set_header("Content-Type", ctype)
        self.set_header("Content-Disposition", attachment(name))
        self.finish(data)


class ContentHandler(APIHandler):
    """The file of a file export, for reviewers (never rendered in the airlock's origin)."""

    def get(self, rid: str) -> None:
        """Send the file as a sandboxed attachment; pages show images through ``<img>``."""
        name, data = self.airlock.request_content(self.principal(), _id(rid))
        self.set_header("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream")
        self.set_header("Content-Disposition", attachment(name))
        self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(data)


class ProjectsHandler(APIHandler):
    """The project registry: list (own, or all for admins) and create (admins)."""

    def get(self) -> None:
        """Projects the caller is on (administrators and reviewers: all)."""
        who = self.principal()
        with self.airlock.db.session() as s:
            mine = projects.projects_of(s, who.name)
            rows = [
                projects.to_dict(p)
                for p in projects.list_projects(s)
                if who.is_admin or who.is_reviewer or p.slug in mine
            ]
        self.send({"projects": rows})

    def post(self) -> None:
        """Create a project."""
        who = self.principal()
        authz.check_admin(who)
        body = self.body()
        with self.airlock.db.session() as s:
            p = projects.create(s, who.name, body.get("slug"), body.get("title"), body.get("pi"))
            for ds in body.get("datasets") or []:
                projects.grant(s, who.name, p.slug, ds)
            self.send(projects.to_dict(p), 201)


class ProjectHandler(APIHandler):
    """One project."""

    def get(self, slug: str) -> None:
        """Members, admins and reviewers may read it."""
        who = self.principal()
        with self.airlock.db.session() as s:
            p = projects.get(s, slug)
            if not (who.is_admin or who.is_reviewer or authz.is_member(p, who)):
                raise authz.Forbidden(f"{who.name} is not a member of project {slug}")
            self.send(projects.to_dict(p))


class ProjectActionHandler(APIHandler):
    """Administrative changes to a project: members, grants, U18 approval, expiry."""

    def post(self, slug: str, action: str) -> None:
        """Add a member / grant a dataset / set U18 approval / expire."""
        who = self.principal()
        authz.check_admin(who)
        body = self.body()
        with self.airlock.db.session() as s:
            if action == "members":
                p = projects.add_member(s, who.name, slug, body.get("username"))
            elif action == "grants":
                p = projects.grant(s, who.name, slug, body.get("dataset"))
            elif action == "u18":
                approved = body.get("approved", True)
                if not isinstance(approved, bool):
                    raise Invalid("'approved' must be true or false")
                p = projects.approve_u18(s, who.name, slug, approved)
            else:
                p = projects.expire(s, who.name, slug)
            self.send(projects.to_dict(p))


class ProjectItemHandler(APIHandler):
    """Removing one member or one dataset grant of a project."""

    def delete(self, slug: str, action: str, item: str) -> None:
        """Remove a member or revoke a dataset grant."""
        who = self.principal()
        authz.check_admin(who)
        with self.airlock.db.session() as s:
            if action == "members":
                p = projects.remove_member(s, who.name, slug, item)
            else:
                p = projects.revoke(s, who.name, slug, item)
            self.send(projects.to_dict(p))


class AuditVerifyHandler(APIHandler):
    """Verify the audit chain (administrators)."""

    def get(self) -> None:
        """Return the verification result."""
        authz.check_admin(self.principal())
        with self.airlock.db.session() as s:
            v = audit.verify(s)
        self.send(
            {
                "ok": v.ok,
                "records": v.records,
                "head": v.head,
                "bad_seq": v.bad_seq,
                "reason": v.reason,
            }
        )


class SandboxRefusalsHandler(APIHandler):
    """A sandbox reports a refusal of its Jupyter server (:mod:`vce.airlock.refusals`)."""

    def post(self) -> None:
        """Record it in the audit chain as the token's user."""
        from vce.airlock import refusals

        self.send(refusals.record(self.airlock.db, self.principal(), self.body()), 201)


def make_app(airlock: Airlock, worker: Worker, prefix: str | None = None) -> web.Application:
    """Build the Tornado application under the service prefix."""
    prefix = prefix or os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/airlock/")
    if not prefix.endswith("/"):
        prefix += "/"
    p = prefix.rstrip("/")
    pages = Pages(airlock)
    slug = r"([a-z0-9][a-z0-9-]{0,62})"
    routes: list[Any] = [
        (rf"{p}/api/openapi\.json", OpenAPIHandler),
        (rf"{p}/api/health", HealthHandler),
        (rf"{p}/api/whoami", WhoAmIHandler),
        (rf"{p}/api/requests", RequestsHandler),
        (rf"{p}/api/requests/(\d+)", RequestHandler),
        (rf"{p}/api/requests/(\d+)/resubmit", ResubmitHandler),
        (rf"{p}/api/requests/(\d+)/withdraw", WithdrawHandler),
        (rf"{p}/api/requests/(\d+)/votes", VotesHandler),
        (rf"{p}/api/requests/(\d+)/comments", CommentsHandler),
        (rf"{p}/api/requests/(\d+)/content", ContentHandler),
        (rf"{p}/api/requests/(\d+)/files/([A-Za-z0-9][A-Za-z0-9._-]*)", FileHandler),
        (rf"{p}/api/projects", ProjectsHandler),
        (rf"{p}/api/projects/{slug}", ProjectHandler),
        (rf"{p}/api/projects/{slug}/(members|grants|u18|expire)", ProjectActionHandler),
        (
            rf"{p}/api/projects/{slug}/(members|grants)/([A-Za-z0-9][A-Za-z0-9._@-]*)",
            ProjectItemHandler,
        ),
        (rf"{p}/api/audit/verify", AuditVerifyHandler),
        (rf"{p}/api/sandbox/refusals", SandboxRefusalsHandler),
        (rf"{p}/oauth_callback", HubOAuthCallbackHandler),
        *pages.routes(p),
    ]
    return web.Application(
        routes,
        airlock=airlock,
        worker=worker,
        prefix=prefix,
        cookie_secret=os.environ.get("VCE_AIRLOCK_COOKIE_SECRET") or secrets.token_bytes(32),
        xsrf_cookies=True,
        template_path=None,
        static_url_prefix=url_path_join(prefix, "static/"),
    )
