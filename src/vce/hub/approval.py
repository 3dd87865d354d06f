"""Account approval for local accounts: a page of forms, and changes only by POST with XSRF.

Why: NativeAuthenticator toggles an account's approval on ``GET /hub/authorize/<user>`` and
deletes one on ``GET /hub/discard/<user>``. A GET carries no XSRF token, so any page a
logged-in administrator opens (another site, a page a researcher serves) could approve an
account or disable a reviewer with a link or a redirect. Here those URLs answer GET with 405;
the change is a form POST, which JupyterHub checks against its XSRF token.

Who: holders of :data:`APPROVE_SCOPE` (the ``vce-administrator`` role, :mod:`vce.hub.app`),
or JupyterHub's ``admin:users`` (break-glass administrators). Approving does not let anyone
into a project; the project registry decides that.
"""

from __future__ import annotations

from jupyterhub.handlers import BaseHandler
from nativeauthenticator.orm import UserInfo
from tornado import web

APPROVE_SCOPE = "custom:vce-accounts:approve"
"""Approve and discard sign-ups (the custom scope of day-to-day administrators)."""


class _ApprovalBase(BaseHandler):
    """Shared permission check."""

    def check_approver(self) -> None:
        """Raise 403 unless the caller may approve accounts."""
        if not ({APPROVE_SCOPE, "admin:users"} & set(self.expanded_scopes)):
            raise web.HTTPError(403, "approving accounts needs the vce-administrator role")


class AccountsPage(_ApprovalBase):
    """``GET /hub/authorize``: every local account, with Approve/Revoke/Discard buttons."""

    @web.authenticated
    async def get(self) -> None:
        """Render the list."""
        self.check_approver()
        html = await self.render_template(
            "vce-accounts.html", accounts=self.db.query(UserInfo).order_by(UserInfo.username).all()
        )
        self.finish(html)


class ToggleApproval(_ApprovalBase):
    """``POST /hub/authorize/<user>``: approve an account, or withdraw its approval."""

    @web.authenticated
    def post(self, username: str) -> None:
        """Toggle approval (XSRF checked by JupyterHub before this runs)."""
        self.check_approver()
        if UserInfo.find(self.db, username) is None:
            raise web.HTTPError(404, f"no account {username!r}")
        UserInfo.change_authorization(self.db, username)
        self.log.info("account %s: approval toggled by %s", username, self.current_user.name)
        self.redirect(self.hub.base_url + "authorize")


class DiscardAccount(_ApprovalBase):
    """``POST /hub/discard/<user>``: delete a sign-up that was never approved."""

    @web.authenticated
    def post(self, username: str) -> None:
        """Delete the unapproved account (approved ones must be revoked first)."""
        self.check_approver()
        info = UserInfo.find(self.db, username)
        if info is None:
            raise web.HTTPError(404, f"no account {username!r}")
        if info.is_authorized:
            raise web.HTTPError(409, f"{username} is approved: revoke the approval first")
        self.db.delete(info)
        self.db.commit()
        if self.users.get(username) is not None:
            self.users.delete(username)
        self.log.info("account %s discarded by %s", username, self.current_user.name)
        self.redirect(self.hub.base_url + "authorize")


ROUTES = [
    (r"/authorize", AccountsPage),
    (r"/authorize/([^/]+)", ToggleApproval),
    (r"/discard/([^/]+)", DiscardAccount),
]
"""Handlers that replace NativeAuthenticator's of the same paths (see the authenticator)."""
