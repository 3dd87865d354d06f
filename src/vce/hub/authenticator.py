"""Local accounts: NativeAuthenticator with its password check moved off the hub's event loop.

Why: a bcrypt comparison costs about 0.2 s of CPU, by design. NativeAuthenticator runs it on
the hub's event loop, so while one researcher logs in the hub answers nothing else — ten
logging in together wait up to 2 s behind each other, and every spawn, API call and proxy
update waits with them. bcrypt releases the GIL, so in a worker thread logins use the free
cores and the loop keeps serving; they queue for those cores with sandbox starts
(:mod:`vce.hub.cpu`). The decision is NativeAuthenticator's own (approval, optional 2FA)
with two changes: failed logins slow down the *address* that fails (:mod:`vce.hub.throttle`)
instead of locking the account, and account approval is a POST with XSRF
(:mod:`vce.hub.approval`) instead of NativeAuthenticator's GET links. A login of a
break-glass administrator (a JupyterHub admin) is written to the audit log.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import bcrypt
from nativeauthenticator import NativeAuthenticator
from tornado import web
from traitlets import Integer, List, Unicode

from vce.clientaddr import client_address
from vce.hub import approval
from vce.hub.cpu import LOGIN, host_queue
from vce.hub.throttle import LoginThrottle


def password_matches(password: str, stored_hash: bytes) -> bool:
    """Return whether ``password`` hashes to ``stored_hash`` (bcrypt, constant-time compare).

    >>> stored = bcrypt.hashpw(b"correct-horse", bcrypt.gensalt(rounds=4))
    >>> password_matches("correct-horse", stored), password_matches("wrong", stored)
    (True, False)
    """
    return bcrypt.checkpw(password.encode(), stored_hash)


class VCEAuthenticator(NativeAuthenticator):
    """NativeAuthenticator with threaded bcrypt, address throttling and POST-only approval."""

    failures_before_backoff = Integer(
        5, config=True, help="Failed logins from one address before it must wait."
    )
    trusted_proxies = List(
        Unicode(), config=True, help="CIDRs of the proxy whose X-Forwarded-For names clients."
    )
    audit_db_url = Unicode(
        "", config=True, help="Airlock database whose audit log records break-glass logins."
    )

    _throttle: LoginThrottle | None = None

    @property
    def throttle(self) -> LoginThrottle:
        """The hub process's one throttle (created on first use, with the configured limit)."""
        if self._throttle is None:
            self._throttle = LoginThrottle(free=self.failures_before_backoff)
        return self._throttle

    def client_of(self, handler: Any) -> str:
        """The address a login attempt came from (``-`` when there is no request)."""
        if handler is None:
            return "-"
        nets = [ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies]
        return client_address(handler.request, nets)

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        """NativeAuthenticator's pages, its approval links replaced by POST forms."""
        replaced = ("/authorize", "/discard")  # whatever NativeAuthenticator's patterns
        kept = [(p, h) for p, h in super().get_handlers(app) if not p.startswith(replaced)]
        return [*kept, *approval.ROUTES]

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> str | None:
        """Log ``data["username"]`` in when approved and the password matches.

        An address that failed too often gets 429 with ``Retry-After`` before any check runs,
        whichever account it names; no account is ever locked. Database reads stay on the
        event loop (the hub's ORM session is not thread-safe); only the bcrypt comparison of
        the stored hash, read here, runs in a thread.
        """
        address = self.client_of(handler)
        wait = self.throttle.retry_after(address)
        if wait:
            err = web.HTTPError(429, f"Too many failed logins: try again in {wait} s.")
            err.headers = {"Retry-After": str(wait)}  # JupyterHub's write_error sends these
            raise err
        username = self.normalize_username(data["username"])
        user = self.get_user(username)
        matches = approved = False
        if user is not None:
            stored, approved = user.password, user.is_authorized
            # one CPU slot per check (at most one per core), after starts of those logged in
            async with host_queue().hold(LOGIN):
                matches = await asyncio.to_thread(password_matches, data["password"], stored)
        validations = [approved, matches]
        if user is not None and user.has_2fa:
            validations.append(user.is_valid_token(data.get("2fa")))
        if all(validations):
            self.throttle.succeeded(address)
            self._audit_break_glass(username, address)
            return username
        self.throttle.failed(address)
        self.log.warning("failed login for %r from %s", username, address)
        return None

    def _audit_break_glass(self, username: str, address: str) -> None:
        """Record a JupyterHub administrator's login in the airlock's audit chain."""
        if username not in self.admin_users or not self.audit_db_url:
            return
        from vce.hub.guard import audit_writer

        audit_writer(self.audit_db_url)(
            username, "hub.break_glass.login", f"user:{username}", {"address": address}
        )
