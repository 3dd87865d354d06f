"""Who may do what: each permission is a ``can_*`` predicate plus a ``check_*`` that raises.

Roles come from JupyterHub scopes on the caller's token (``custom:vce-airlock:review``,
``custom:vce-airlock:admin``); project membership comes from the registry. Reviewers never
review a project they are a member of, and nobody approves their own request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from vce.airlock import projects
from vce.airlock.config import ADMIN_SCOPE, REVIEW_SCOPE
from vce.airlock.errors import Forbidden
from vce.airlock.models import Project, Request
from vce.airlock.states import State


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: JupyterHub user name and the scopes of their token.

    ``own_session``: the token came from this person's own browser login (a JupyterHub OAuth
    token carries the id of the login session it was issued in). API tokens carry none, and
    whoever may mint tokens for others — a JupyterHub administrator — can mint those.
    """

    name: str
    scopes: frozenset[str] = frozenset()
    own_session: bool = False

    @property
    def is_reviewer(self) -> bool:
        """Holds the review scope."""
        return REVIEW_SCOPE in self.scopes

    @property
    def is_admin(self) -> bool:
        """Holds the admin scope."""
        return ADMIN_SCOPE in self.scopes


def is_member(project: Project, who: Principal) -> bool:
    """Whether ``who`` is on ``project``."""
    return any(m.username == who.name for m in project.members)


def can_admin(who: Principal) -> bool:
    """Administer the project registry and read the audit log."""
    return who.is_admin


def check_admin(who: Principal) -> None:
    """Raise unless :func:`can_admin`."""
    if not can_admin(who):
        raise Forbidden(f"{who.name} lacks the {ADMIN_SCOPE} scope needed for this")


def can_list_project(session: Session, who: Principal, slug: str) -> bool:
    """See the requests of project ``slug``."""
    return who.is_reviewer or who.is_admin or slug in projects.projects_of(session, who.name)


def check_list_project(session: Session, who: Principal, slug: str) -> None:
    """Raise unless :func:`can_list_project`."""
    if not can_list_project(session, who, slug):
        raise Forbidden(f"{who.name} is not a member of project {slug}")


def can_view(who: Principal, req: Request) -> bool:
    """Read a request: its project's members, reviewers and administrators."""
    return who.is_reviewer or who.is_admin or is_member(req.project, who)


def check_view(who: Principal, req: Request) -> None:
    """Raise unless :func:`can_view`."""
    if not can_view(who, req):
        raise Forbidden(f"request {req.id} belongs to a project {who.name} is not on")


def can_submit(who: Principal, project: Project) -> bool:
    """Ask for an export: members of an active project only."""
    return is_member(project, who) and projects.is_active(project)


def check_submit(who: Principal, project: Project) -> None:
    """Raise unless :func:`can_submit`, saying which condition failed."""
    if not is_member(project, who):
        raise Forbidden(f"{who.name} is not a member of project {project.slug}")
    if not projects.is_active(project):
        raise Forbidden(f"project {project.slug} has expired; ask an administrator to renew it")


def can_change(who: Principal, req: Request) -> bool:
    """Resubmit or withdraw: the requester, while the project is active."""
    return who.name == req.requester and can_submit(who, req.project)


def check_change(who: Principal, req: Request) -> None:
    """Raise unless :func:`can_change`."""
    if not can_change(who, req):
        raise Forbidden(f"only the requester of request {req.id} can change it")


def can_review(who: Principal, req: Request) -> bool:
    """Vote on a request: a reviewer who is neither its requester nor on its project."""
    return who.is_reviewer and who.name != req.requester and not is_member(req.project, who)


def check_review(who: Principal, req: Request) -> None:
    """Raise unless :func:`can_review`, naming the rule that stops the caller."""
    if not who.is_reviewer:
        raise Forbidden(f"{who.name} lacks the {REVIEW_SCOPE} scope")
    if who.name == req.requester:
        raise Forbidden("nobody can review their own request")
    if is_member(req.project, who):
        raise Forbidden(f"{who.name} is on project {req.project.slug} and cannot review it")


def check_vote(who: Principal, req: Request, need_session: bool = True) -> None:
    """Raise unless ``who`` may vote on ``req`` now: :func:`check_review`, from their own session.

    Two approvals must be two people: a vote counts only when it comes from the reviewer's own
    login session, so an administrator who mints tokens for two reviewers cannot release alone.
    """
    check_review(who, req)
    if need_session and not who.own_session:
        raise Forbidden(
            "votes count only from the reviewer's own login session: vote in the airlock's "
            "review page in your browser, not with an API token"
        )


def can_comment(who: Principal, req: Request, private: bool) -> bool:
    """Comment: eligible reviewers (also privately) and project members (publicly)."""
    if private:
        return can_review(who, req) or who.is_admin
    return can_review(who, req) or who.is_admin or is_member(req.project, who)


def check_comment(who: Principal, req: Request, private: bool) -> None:
    """Raise unless :func:`can_comment`."""
    if not can_comment(who, req, private):
        what = "private comments" if private else "comments"
        raise Forbidden(f"{who.name} may not add {what} to request {req.id}")


def can_see_run(who: Principal, req: Request) -> bool:
    """See the trusted run as it happened (every revision's outcome, notes and timing).

    Eligible reviewers and administrators only, before and after release: a release discloses
    what reviewers approved — the released revision's results — not how earlier revisions
    fared (see :mod:`vce.airlock.projection`).
    """
    return can_review(who, req) or who.is_admin


def can_see_results(who: Principal, req: Request) -> bool:
    """See what re-execution computed (preview rows, check counts) before it is released.

    Those numbers come from the full extracts — real minors' rows included for U18 projects —
    so before release only eligible reviewers and administrators see them; showing them to
    project members would let them skip the review. After release members have the files.
    """
    if can_see_run(who, req):
        return True
    return req.state == State.RELEASED.value and is_member(req.project, who)


def can_see_private(who: Principal, req: Request) -> bool:
    """Read reviewers' private comments."""
    return can_review(who, req) or who.is_admin


def can_download(who: Principal, req: Request) -> bool:
    """Download a release: project members only, once released."""
    return is_member(req.project, who) and req.state == State.RELEASED.value


def check_download(who: Principal, req: Request) -> None:
    """Raise unless :func:`can_download`."""
    if not is_member(req.project, who):
        raise Forbidden(f"only members of {req.project.slug} can download its releases")
    if req.state != State.RELEASED.value:  # not which state: a member must not learn it here
        raise Forbidden(f"request {req.id} has not been released")
