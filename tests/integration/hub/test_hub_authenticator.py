"""Local logins on a real SQLite hub database: NativeAuthenticator's rules, bcrypt off the loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jupyterhub import orm
from nativeauthenticator.orm import UserInfo

from vce.hub.authenticator import VCEAuthenticator

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def authenticator(tmp_path: Path) -> VCEAuthenticator:
    db = orm.new_session_factory(f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}")()
    auth = VCEAuthenticator(_deprecated_db_session=db, failures_before_backoff=3)
    auth.enable_signup = True
    auth.allow_all = True
    return auth


def _login(auth: VCEAuthenticator, name: str, password: str) -> str | None:
    return asyncio.run(auth.authenticate(None, {"username": name, "password": password}))


def test_only_an_approved_account_with_the_right_password_logs_in(authenticator) -> None:
    authenticator.create_user("ada", PASSWORD)
    assert _login(authenticator, "ada", PASSWORD) is None  # signed up, not yet approved
    UserInfo.change_authorization(authenticator.db, "ada")
    assert _login(authenticator, "ada", PASSWORD) == "ada"
    assert _login(authenticator, "ada", PASSWORD + "x") is None
    assert _login(authenticator, "nobody", PASSWORD) is None


class _Request:
    """What the authenticator reads of a login request: its socket peer and its headers."""

    def __init__(self, ip: str, forwarded_for: str = "") -> None:
        self.remote_ip = forwarded_for or ip  # what Tornado's xheaders would make of it
        self.connection = type("C", (), {"context": type("X", (), {"address": (ip, 5)})()})()
        self.headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}


def _login_from(auth: VCEAuthenticator, ip: str, name: str, password: str, xff: str = ""):
    handler = type("H", (), {"request": _Request(ip, xff)})()
    return asyncio.run(auth.authenticate(handler, {"username": name, "password": password}))


def test_failures_slow_the_guessing_address_and_never_lock_the_account(authenticator) -> None:
    from tornado.web import HTTPError

    authenticator.create_user("bea", PASSWORD)
    UserInfo.change_authorization(authenticator.db, "bea")
    for _ in range(4):  # 3 free failures, then the address waits
        assert _login_from(authenticator, "6.6.6.6", "bea", "guess-" + PASSWORD) is None
    with pytest.raises(HTTPError) as refused:
        _login_from(authenticator, "6.6.6.6", "bea", PASSWORD)
    assert refused.value.status_code == 429 and int(refused.value.headers["Retry-After"]) >= 1
    # a forged X-Forwarded-For from a client that is not the proxy changes nothing
    with pytest.raises(HTTPError):
        _login_from(authenticator, "6.6.6.6", "bea", PASSWORD, xff="10.1.1.1")
    # the owner, from their own address, logs in with the right password
    assert _login_from(authenticator, "192.0.2.7", "bea", PASSWORD) == "bea"


def test_the_event_loop_keeps_serving_while_a_password_is_checked(authenticator) -> None:
    """A blocking bcrypt (~0.2 s) would let the other task run at most once or twice."""
    authenticator.create_user("cleo", PASSWORD)
    UserInfo.change_authorization(authenticator.db, "cleo")

    async def main() -> tuple[str | None, int]:
        ticks = 0
        login = asyncio.ensure_future(
            authenticator.authenticate(None, {"username": "cleo", "password": PASSWORD})
        )
        while not login.done():
            ticks += 1
            await asyncio.sleep(0.001)
        return login.result(), ticks

    user, ticks = asyncio.run(main())
    assert user == "cleo"
    assert ticks > 20
