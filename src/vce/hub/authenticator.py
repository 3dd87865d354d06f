"""Local accounts: NativeAuthenticator with its password check moved off the hub's event loop.

Why: a bcrypt comparison costs about 0.2 s of CPU, by design. NativeAuthenticator runs it on
the hub's event loop, so while one researcher logs in the hub answers nothing else — ten
logging in together wait up to 2 s behind each other, and every spawn, API call and proxy
update waits with them. bcrypt releases the GIL, so in a worker thread logins use the free
cores and the loop keeps serving; they queue for those cores with sandbox starts
(:mod:`vce.hub.cpu`). The decision is NativeAuthenticator's own (approval, failed-login
lockout, optional 2FA); only where the hashing runs changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import bcrypt
from nativeauthenticator import NativeAuthenticator

from vce.hub.cpu import LOGIN, host_queue


def password_matches(password: str, stored_hash: bytes) -> bool:
    """Return whether ``password`` hashes to ``stored_hash`` (bcrypt, constant-time compare).

    >>> stored = bcrypt.hashpw(b"correct-horse", bcrypt.gensalt(rounds=4))
    >>> password_matches("correct-horse", stored), password_matches("wrong", stored)
    (True, False)
    """
    return bcrypt.checkpw(password.encode(), stored_hash)


class VCEAuthenticator(NativeAuthenticator):
    """NativeAuthenticator (configured as ``c.NativeAuthenticator``) with threaded bcrypt."""

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> str | None:
        """Log ``data["username"]`` in when approved, not locked out and the password matches.

        Database reads stay on the event loop (the hub's ORM session is not thread-safe); only
        the bcrypt comparison of the stored hash, read here, runs in a thread.
        """
        username = self.normalize_username(data["username"])
        user = self.get_user(username)
        if not user:
            return None
        if self.allowed_failed_logins and self.is_blocked(username):
            return None
        stored, approved = user.password, user.is_authorized
        # one CPU slot per check (at most one per core), after starts of those logged in
        async with host_queue().hold(LOGIN):
            matches = await asyncio.to_thread(password_matches, data["password"], stored)
        validations = [approved, matches]
        if user.has_2fa:
            validations.append(user.is_valid_token(data.get("2fa")))
        if all(validations):
            self.successful_login(username)
            return username
        self.add_login_attempt(username)
        return None
